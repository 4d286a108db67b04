"""The publisher's own Prometheus metrics (bounded labels: platform, outcome/error class)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from siar_runtime.metrics import ChassisMetrics


class PublisherMetrics:
    def __init__(self, chassis: ChassisMetrics) -> None:
        self.chassis = chassis
        r = chassis.registry
        self.attempts = Counter(
            "siar_publisher_attempts_total",
            "Calls to a platform, by platform and outcome (published or the error class)",
            ["platform", "outcome"],
            registry=r,
        )
        self.published = Counter("siar_publisher_published_total", "Targets published", ["platform"], registry=r)
        self.failed = Counter(
            "siar_publisher_failed_total", "Targets that failed for good", ["platform", "error_class"], registry=r
        )
        self.rate_limit_pauses = Counter(
            "siar_publisher_rate_limit_pauses_total",
            "Times an account was paused because its platform asked to slow down",
            ["platform"],
            registry=r,
        )
        self.call_seconds = Histogram(
            "siar_publisher_call_seconds",
            "Time of a successful publish call to a platform",
            ["platform"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.lateness = Histogram(
            "siar_publisher_publish_lateness_seconds",
            "Time from a target's due time to its confirmed publication",
            ["platform"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
            registry=r,
        )
        self.processing_waits = Counter(
            "siar_publisher_processing_waits_total",
            "Attempts that found the platform still processing a post's media (not counted as attempts: "
            "the delivery looks again later)",
            ["platform"],
            registry=r,
        )
        self.leases_lost = Counter(
            "siar_publisher_leases_lost_total",
            "Attempts stopped because another worker took their delivery over (the lease could not be renewed)",
            ["platform"],
            registry=r,
        )
        self.rate_deferrals = Counter(
            "siar_publisher_rate_deferrals_total",
            "Deliveries held back because their account reached its configured publishing rate",
            ["platform"],
            registry=r,
        )
        self.token_refreshes = Counter(
            "siar_publisher_token_refreshes_total", "Access-token refreshes, by platform and outcome",
            ["platform", "outcome"], registry=r,
        )
        self.token_expiry = Gauge(
            "siar_publisher_account_token_expiry_seconds",
            "Shortest time until an active account's access token expires, per platform "
            "(accounts whose tokens never expire are not counted)",
            ["platform"], registry=r,
        )
        self.accounts = Gauge(
            "siar_publisher_accounts", "Connected accounts by platform and status (active, needs_reconnect)",
            ["platform", "status"], registry=r,
        )
        self.in_flight = Gauge("siar_publisher_in_flight", "Platform calls in flight in this replica", registry=r)
        self.insights = Counter(
            "siar_publisher_insights_total",
            "insights.requested answered, by platform, kind (post, account) and outcome (collected or the error class)",
            ["platform", "kind", "outcome"], registry=r,
        )
        self.insights_seconds = Histogram(
            "siar_publisher_insights_call_seconds", "Time of a platform call reading insights",
            ["platform"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r,
        )
