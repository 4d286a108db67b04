"""The scheduler's own Prometheus metrics (bounded labels: platform only)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram
from siar_runtime.metrics import ChassisMetrics

LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_DUE_AT = b'"due_at":"'


def due_at_in(body: bytes) -> str | None:
    """The due time in a post.due body, as the event carries it, found without decoding the whole
    event (the relay calls this for every post.due it sent). The pattern cannot match inside a
    string value, where the quotes are escaped."""
    start = body.find(_DUE_AT)
    if start < 0:
        return None
    start += len(_DUE_AT)
    return body[start:body.find(b'"', start)].decode(errors="replace")


class SchedulerMetrics:
    def __init__(self, chassis: ChassisMetrics) -> None:
        self.chassis = chassis
        r = chassis.registry
        self.dispatched = Counter(
            "siar_scheduler_targets_dispatched_total", "Targets whose post.due was written", ["platform"], registry=r
        )
        self.not_approved = Counter(
            "siar_scheduler_targets_not_approved_total",
            "Targets that did not go out because their post was not approved by its time",
            ["platform"],
            registry=r,
        )
        self.at_risk = Counter(
            "siar_scheduler_posts_at_risk_total",
            "Posts whose media link no longer worked when tried again shortly before their time (post.at_risk)",
            registry=r,
        )
        self.dispatch_lateness = Histogram(
            "siar_scheduler_dispatch_lateness_seconds",
            "Time from a target's due time to its claim by the scheduler",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.confirmed_lateness = Histogram(
            "siar_scheduler_due_confirmed_seconds",
            "Time from a target's due time until the broker confirmed its post.due",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )

        # Read from the database on a timer independent of dispatch, so a scheduler that is up but
        # no longer dispatching (a wedged runner, a lost NOTIFY and a failing sweep) still shows.
        self.overdue = Gauge(
            "siar_scheduler_targets_overdue",
            "Targets still waiting to be dispatched well after their time (0 while dispatch works)",
            registry=r,
        )
        self.overdue_oldest = Gauge(
            "siar_scheduler_overdue_oldest_seconds",
            "How long the oldest overdue target has waited past its time (0 when none)",
            registry=r,
        )

    def set_overdue(self, count: int, oldest_seconds: float) -> None:
        self.overdue.set(count)
        self.overdue_oldest.set(oldest_seconds)

    def observe_dispatch(self, rows) -> None:
        now = datetime.now(UTC)
        for row in rows:
            if row["status"] != "due":
                self.not_approved.labels(row["platform"]).inc()
                continue
            self.dispatched.labels(row["platform"]).inc()
            self.dispatch_lateness.observe(max(0.0, (now - row["due_at"]).total_seconds()))

    def observe_confirmed(self, due_ats: Iterable[str | None]) -> None:
        """post.due the broker has just confirmed, by their targets' due times as the events carry
        them (ISO 8601); one that cannot be read, or has no UTC offset, is not counted."""
        now = datetime.now(UTC)
        for text in due_ats:
            try:
                due_at = datetime.fromisoformat(text) if text else None
            except ValueError:
                continue
            if due_at is not None and due_at.tzinfo is not None:
                self.confirmed_lateness.observe(max(0.0, (now - due_at).total_seconds()))
