"""Exchange and queue names. They are part of the public contract: other systems bind to them."""

EVENTS_EXCHANGE = "siar.events"
"""Durable topic exchange for every domain event; the routing key is the event's short name."""

DEAD_EXCHANGE = "siar.dead"
"""Durable topic exchange for dead letters; the routing key is the queue the message died in."""


def queue_name(queue: str) -> str:
    """A durable quorum queue by its key in :data:`BINDINGS`: a service's own queue
    (``siar.publisher``) or another of its queues (``siar.publisher-insights``)."""
    return f"siar.{queue}"


def dead_queue_name(queue: str) -> str:
    """Where a queue's dead letters wait, with their reasons, for an operator to replay."""
    return f"siar.{queue}.dead"


DELIVERY_LIMIT = 5
"""Deliveries of one message to a service queue before RabbitMQ dead-letters it. Part of every
queue's declaration, so every service (and deploy/rabbitmq/definitions.json) must agree on it."""

BINDINGS: dict[str, tuple[str, ...]] = {
    "scheduler": (
        "post.published",
        "post.failed",
        "post.retrying",
        "account.registered",
        "account.updated",
        "account.needs_reconnect",
        "survey.opened",
    ),
    "publisher": ("post.due", "post.cancelled"),
    "publisher-insights": ("insights.requested",),
    "metrics": (
        "post.scheduled",
        "post.updated",
        "post.published",
        "account.registered",
        "account.updated",
        "account.needs_reconnect",
        "insights.collected",
        "insights.failed",
    ),
    "feedback": ("feedback.response.submitted",),
}
"""The routing keys each Siar queue is bound to, by the queue's key (see :func:`queue_name`).
Every service declares the whole table at start-up (declarations are idempotent), so an event is
never dropped for want of a queue because one service happened to start before another.

A service has one queue named after it, and more where one kind of work must not wait behind
another: the publisher reads the metrics service's insights requests (a platform call each, up
to the HTTP timeout, by the thousand when readings come due) from a queue of its own, so that
not one post.due ever waits behind them."""

SERVICE_OF: dict[str, str] = {"publisher-insights": "publisher"}
"""The service that consumes each queue that is not named after its service."""

RETIRED_BINDINGS: dict[str, tuple[str, ...]] = {"publisher": ("insights.requested",)}
"""Bindings an earlier release declared and this one removes at start-up (a binding stays on the
broker until it is removed): insights requests went to the publisher's own queue before they had
one of their own. The publisher still answers one found there."""


def consuming_service(queue: str) -> str:
    """The service that consumes a queue of :data:`BINDINGS`."""
    return SERVICE_OF.get(queue, queue)
