"""One Prometheus registry per service, with the metrics every service's chassis reports.

Labels stay bounded: event name, outcome, reason class — never a post, account or survey id."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ChassisMetrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.info = Gauge("siar_service_info", "Always 1; labels describe the service", ["service"], registry=r)
        self.info.labels(service).set(1)
        self.events_published = Counter(
            "siar_events_published_total",
            "Events confirmed by the broker, by event name",
            ["event"],
            registry=r,
        )
        self.events_consumed = Counter(
            "siar_events_consumed_total",
            "Events handled, by event name and outcome (ok, duplicate, ignored, retry, dead)",
            ["event", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "siar_dead_letters_total",
            "Messages this service sent to the dead-letter exchange, by reason class",
            ["reason"],
            registry=r,
        )
        self.handle_seconds = Histogram(
            "siar_event_handle_seconds",
            "Time to handle one consumed event",
            ["event"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.outbox_lag = Histogram(
            "siar_outbox_lag_seconds",
            "Time from writing an event to the broker's confirm (the metrics service's engagement and audience "
            "events: from the values' collection)",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.outbox_publish_errors = Counter(
            "siar_outbox_publish_errors_total",
            "Outbox batches that could not be published and will be tried again",
            registry=r,
        )
