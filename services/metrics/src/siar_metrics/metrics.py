"""The metrics service's own Prometheus metrics.

Labels stay bounded: platform, kind (post, account), outcome — and campaign, clamped to the
``campaign_labels`` most active campaigns of the window (the rest are ``other``, posts outside any
campaign ``none``). Never a post, target or account id."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from siar_runtime.metrics import ChassisMetrics

from .ingest import Outcome


class _SinceLastCollection:
    """``siar_metrics_seconds_since_last_collection{platform}``, computed at scrape time from the
    last successful collection of any replica (refreshed from the database)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [self._family()]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = self._family()
        now = time.time()
        for platform, at in sorted(self.last.items()):
            family.add_metric([platform], max(0.0, now - at))
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "siar_metrics_seconds_since_last_collection",
            "Seconds since the last successful insights collection on each platform (any replica)",
            labels=["platform"],
        )


class MetricsMetrics:
    def __init__(self, chassis: ChassisMetrics) -> None:
        self.chassis = chassis
        r = chassis.registry
        self.collections = Counter(
            "siar_metrics_collections_total",
            "Insights collections by platform, kind (post, account) and outcome "
            "(requested, collected, retrying, failed, unanswered)",
            ["platform", "kind", "outcome"], registry=r,
        )
        self.duplicates = Counter(
            "siar_metrics_answers_ignored_total",
            "Answers not stored because their request was already answered (or is unknown)", registry=r,
        )
        self.samples = Counter("siar_metrics_samples_stored_total", "Sample rows stored", ["platform"], registry=r)
        self.batch_size = Histogram(
            "siar_metrics_ingest_batch_answers", "Answers stored per transaction",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500), registry=r,
        )
        self.last_collection = Gauge(
            "siar_metrics_last_collection_timestamp_seconds",
            "Unix time of the last successful insights collection on each platform", ["platform"], registry=r,
        )
        self.since_last = _SinceLastCollection()
        r.register(self.since_last)  # type: ignore[arg-type]
        self.engagement_rate = Gauge(
            "siar_metrics_engagement_rate",
            "Engagement rate (interactions / reach, views or followers; docs/metrics.md) of the posts "
            "published in the gauge window, latest reading each", ["platform", "campaign"], registry=r,
        )
        self.interactions = Gauge(
            "siar_metrics_interactions",
            "Likes + comments + shares + saves of the posts published in the gauge window",
            ["platform", "campaign"], registry=r,
        )
        self.posts = Gauge(
            "siar_metrics_posts_measured", "Published targets in the gauge window with at least one reading",
            ["platform", "campaign"], registry=r,
        )
        self.followers = Gauge(
            "siar_metrics_followers", "Followers of the connected accounts (latest reading each)", ["platform"], registry=r,
        )
        self.events_waiting = Gauge(
            "siar_metrics_events_waiting",
            "Readings stored whose engagement.sampled / audience.sampled event is not published yet (counted up to "
            "100,000)", registry=r,
        )
        self.events_waiting_seconds = Gauge(
            "siar_metrics_events_waiting_seconds",
            "How long the oldest reading not announced yet has waited (since it was collected or since the "
            "announcer last moved, whichever is later); 0 when none waits", registry=r,
        )

    def requested(self, claimed) -> None:
        """After a claim: (row, "requested" | "unanswered") pairs."""
        for row, outcome in claimed:
            self.collections.labels(row["platform"], row["kind"], outcome).inc()

    def stored(self, outcome: Outcome, answers: int) -> None:
        self.batch_size.observe(answers)
        for (platform, kind), n in outcome.collected.items():
            self.collections.labels(platform, kind, "collected").inc(n)
        for (platform, kind), n in outcome.retrying.items():
            self.collections.labels(platform, kind, "retrying").inc(n)
        for (platform, kind), n in outcome.failed.items():
            self.collections.labels(platform, kind, "failed").inc(n)
        for platform, n in outcome.samples.items():
            self.samples.labels(platform).inc(n)
        if outcome.duplicates:
            self.duplicates.inc(outcome.duplicates)

    def refresh(self, platforms, engagement, followers, campaign_labels: int, waiting: tuple[int, float]) -> None:
        """Set the gauges from the database's view (every replica exports the same values)."""
        self.events_waiting.set(waiting[0])
        self.events_waiting_seconds.set(waiting[1])
        for row in platforms:
            if row["last_collected_at"] is not None:
                at = row["last_collected_at"].timestamp()
                self.last_collection.labels(row["platform"]).set(at)
                self.since_last.last[row["platform"]] = at
        by_campaign: dict[str, int] = defaultdict(int)
        for row in engagement:
            if row["campaign_id"] is not None:
                by_campaign[row["campaign_id"]] += row["targets"]
        kept = {c for c, _ in sorted(by_campaign.items(), key=lambda kv: (-kv[1], kv[0]))[:campaign_labels]}
        sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
        for row in engagement:
            campaign = row["campaign_id"]
            label = "none" if campaign is None else campaign if campaign in kept else "other"
            total = sums[(row["platform"], label)]
            total[0] += row["targets"]
            total[1] += row["interactions"]
            total[2] += row["rated_interactions"]
            total[3] += row["denominator"]
        for gauge in (self.engagement_rate, self.interactions, self.posts):
            gauge.clear()
        for (platform, label), (targets, interactions, rated, denominator) in sums.items():
            self.posts.labels(platform, label).set(targets)
            self.interactions.labels(platform, label).set(interactions)
            if denominator > 0:
                self.engagement_rate.labels(platform, label).set(rated / denominator)
        self.followers.clear()
        for row in followers:
            self.followers.labels(row["platform"]).set(row["followers"])
