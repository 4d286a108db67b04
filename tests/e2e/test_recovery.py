"""Nothing lost, nothing twice: a publisher killed mid-flight, and answers lost after commit."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from .conftest import wait_until

pytestmark = pytest.mark.e2e


def schedule(api, stack, account_id: str, text: str, when: datetime) -> dict:
    response = api.post(
        f"{stack.url('scheduler')}/v1/posts",
        json={"text": text, "targets": [account_id], "scheduled_at": when.isoformat()},
    )
    assert response.status_code == 201, response.text
    return response.json()


def statuses(api, stack, post_ids: list[str]) -> Counter:
    return Counter(
        api.get(f"{stack.url('scheduler')}/v1/posts/{pid}").json()["status"] for pid in post_ids
    )


async def test_publisher_killed_mid_flight_publishes_every_post_exactly_once(stack, accounts, api, sandbox):
    # Every Mastodon call takes 1.5 s, so the kill lands while posts are in flight.
    sandbox.put("/_sandbox/faults", json={"platform": "mastodon", "latency_ms": 1500}).raise_for_status()
    due = datetime.now(UTC) + timedelta(seconds=1)
    texts = [f"Koleksi baru nomor {i} sudah tersedia" for i in range(40)]
    posts = [schedule(api, stack, accounts["mastodon"]["account_id"], t, due) for t in texts]

    await asyncio.sleep((due - datetime.now(UTC)).total_seconds() + 0.8)
    publisher = stack.services["publisher"]
    publisher.kill(signal.SIGKILL)
    sandbox.delete("/_sandbox/faults").raise_for_status()
    publisher.start()
    publisher.wait_ready()

    ids = [p["post_id"] for p in posts]
    await wait_until(lambda: statuses(api, stack, ids)["published"] == len(ids), timeout=60, interval=0.5)

    received = Counter(p["text"] for p in sandbox.get("/_sandbox/posts").json()["posts"])
    assert set(received) == set(texts)
    assert max(received.values()) == 1, f"posted twice: {[t for t, n in received.items() if n > 1]}"


async def test_a_lost_answer_from_mastodon_is_resolved_by_its_idempotency_key(stack, accounts, api, sandbox):
    sandbox.put(
        "/_sandbox/faults",
        json={"platform": "mastodon", "sequence": ["timeout_after_commit"], "timeout_seconds": 4},
    ).raise_for_status()
    post = schedule(api, stack, accounts["mastodon"]["account_id"], "Lomba menulis cerpen dibuka!", datetime.now(UTC))

    def done():
        body = api.get(f"{stack.url('scheduler')}/v1/posts/{post['post_id']}").json()
        return body if body["status"] == "published" else None

    body = await wait_until(done, timeout=30)
    posts = sandbox.get("/_sandbox/posts").json()["posts"]
    assert len(posts) == 1
    assert body["targets"][0]["platform_post_id"] == posts[0]["id"]
    assert body["targets"][0]["attempts"] >= 2


async def test_a_lost_answer_from_telegram_is_reported_not_sent_twice(stack, accounts, api, sandbox):
    sandbox.put(
        "/_sandbox/faults",
        json={"platform": "telegram", "sequence": ["timeout_after_commit"], "timeout_seconds": 4},
    ).raise_for_status()
    post = schedule(api, stack, accounts["telegram"]["account_id"], "Pengumuman: libur nasional.", datetime.now(UTC))

    def done():
        body = api.get(f"{stack.url('scheduler')}/v1/posts/{post['post_id']}").json()
        return body if body["status"] == "failed" else None

    body = await wait_until(done, timeout=30)
    target = body["targets"][0]
    assert target["error_class"] == "outcome_unknown"
    assert "check" in target["reason"] or "look" in target["reason"]
    assert len(sandbox.get("/_sandbox/posts").json()["posts"]) == 1  # sent once, never again
