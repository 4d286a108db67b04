"""``python -m siar_devstack.demo`` (the one-shot demo service of compose.yaml) against the e2e
stack: it connects the demo accounts and schedules the demo posts, and running it twice changes
nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import TOKEN

pytestmark = pytest.mark.e2e


def run_demo(stack) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAR_")} | {
        "SIAR_SCHEDULER_URL": stack.url("scheduler"),
        "SIAR_PUBLISHER_URL": stack.url("publisher"),
        "SIAR_SANDBOX_URL": stack.url("sandbox"),
        "SIAR_FEEDBACK_URL": stack.url("feedback"),
        "SIAR_API_TOKENS": f"{TOKEN}:admin",
        # An hour from now: the other tests count what reaches the sandbox.
        "SIAR_DEMO_DELAY_SECONDS": "3600",
    }
    result = subprocess.run([sys.executable, "-m", "siar_devstack.demo"], env=env, capture_output=True,
                            text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_demo_connects_accounts_and_schedules_posts_once(stack, api):
    first = run_demo(stack)
    assert "mastodon" in first and "telegram" in first
    assert "demo survey" in first and "/s/" in first
    accounts = {a["platform"]: a for a in api.get(f"{stack.url('scheduler')}/v1/accounts").json()["accounts"]}
    assert {"mastodon", "telegram"} <= set(accounts)

    second = run_demo(stack)
    post_lines = [line for line in first.splitlines() if "scheduled" in line]
    assert len(post_lines) == 3
    assert post_lines == [line for line in second.splitlines() if "scheduled" in line], "a second run changed the posts"
