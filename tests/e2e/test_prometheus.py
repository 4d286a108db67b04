"""A real Prometheus (Debian's package) scrapes every service of the e2e stack with the alert
rules of deploy/prometheus, and sees a post going out move the series dashboards and alerts read."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from siar_devstack import SERVICES
from siar_devstack.prometheus import DEPLOY, Prometheus, local_config

from tests.tools import free_port, require

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def prometheus_installed() -> None:
    require("prometheus", "prometheus")

# Series a post moves on its way out: the scheduler dispatches it, the publisher publishes it,
# the sandbox (the platform) receives it.
MOVED_BY_A_POST = (
    "sum(siar_scheduler_targets_dispatched_total)",
    "sum(siar_scheduler_dispatch_lateness_seconds_count)",
    "sum(siar_scheduler_due_confirmed_seconds_count)",
    "sum(siar_publisher_published_total)",
    'sum(siar_publisher_attempts_total{outcome="published"})',
    "sum(siar_publisher_publish_lateness_seconds_count)",
    "sum(siar_sandbox_posts_accepted_total)",
    'sum(siar_events_published_total{job="scheduler", event="post.due"})',
    'sum(siar_events_consumed_total{job="publisher", event="post.due", outcome="ok"})',
)


def dashboard_queries() -> list[str]:
    queries = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(Path(path).read_text())["panels"]:
            queries += [t["expr"] for t in panel.get("targets", [])]
    return queries


def test_prometheus_scrapes_every_service_and_sees_a_post_go_out(stack, accounts, api, sandbox):
    targets = {
        name: [f"127.0.0.1:{p.port}" for p in stack.replicas(name)] for name in SERVICES if name in stack.services
    }
    with Prometheus(local_config(targets), free_port()) as prom:
        # Every service of the stack is a target, and up.
        def all_up():
            active = prom.api("targets")["activeTargets"]  # type: ignore[index]
            return len(active) == sum(map(len, targets.values())) and all(t["health"] == "up" for t in active)

        try:
            wait_until_sync(all_up, timeout=15)
        except TimeoutError:
            pytest.fail(f"targets not all up: {prom.api('targets')}\n{prom.log()}")
        assert {r["metric"]["job"] for r in prom.query("up == 1")} == set(targets)

        before = {expr: prom.value(f"{expr} or vector(0)") for expr in MOVED_BY_A_POST}

        due = datetime.now(UTC) + timedelta(seconds=1)
        response = api.post(
            f"{stack.url('scheduler')}/v1/posts",
            json={
                "text": "Prometheus melihat postingan ini. #PerpustakaanKita",
                "targets": [accounts["mastodon"]["account_id"], accounts["telegram"]["account_id"]],
                "scheduled_at": due.isoformat(),
            },
        )
        assert response.status_code == 201, response.text
        post_id = response.json()["post_id"]
        wait_until_sync(
            lambda: api.get(f"{stack.url('scheduler')}/v1/posts/{post_id}").json()["status"] == "published",
            timeout=15,
        )

        # Two targets: every series moves by at least two once Prometheus has scraped again.
        def moved():
            now = {expr: prom.value(f"{expr} or vector(0)") for expr in MOVED_BY_A_POST}
            return now if all(now[e] - before[e] >= 2 for e in MOVED_BY_A_POST) else None

        try:
            wait_until_sync(moved, timeout=10)
        except TimeoutError:
            now = {expr: prom.value(f"{expr} or vector(0)") for expr in MOVED_BY_A_POST}
            pytest.fail("series did not move by 2: " + ", ".join(
                f"{e}: {before[e]} -> {now[e]}" for e in MOVED_BY_A_POST if now[e] - before[e] < 2))

        # Every alert rule loads and evaluates against real series without error.
        def rules_evaluated():
            groups = prom.api("rules")["groups"]  # type: ignore[index]
            rules = [rule for group in groups for rule in group["rules"]]
            return rules if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) else None

        rules = wait_until_sync(rules_evaluated, timeout=10)
        assert [r["name"] for r in rules if r["health"] != "ok"] == [], rules

        # Every dashboard query is valid PromQL that Prometheus evaluates.
        for expr in dashboard_queries():
            prom.query(expr.replace("$__rate_interval", "1m").replace("$platform", ".*"))


def wait_until_sync(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")

