"""The scheduler's own Prometheus metrics (bounded labels: platform only)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter, Histogram
from siar_runtime.metrics import ChassisMetrics


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
        self.dispatch_lateness = Histogram(
            "siar_scheduler_dispatch_lateness_seconds",
            "Time from a target's due time to its claim by the scheduler",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )

    def observe_dispatch(self, rows) -> None:
        now = datetime.now(UTC)
        for row in rows:
            if row["status"] != "due":
                self.not_approved.labels(row["platform"]).inc()
                continue
            self.dispatched.labels(row["platform"]).inc()
            self.dispatch_lateness.observe(max(0.0, (now - row["due_at"]).total_seconds()))
