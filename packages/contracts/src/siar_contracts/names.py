"""Exchange and queue names. They are part of the public contract: other systems bind to them."""

EVENTS_EXCHANGE = "siar.events"
"""Durable topic exchange for every domain event; the routing key is the event's short name."""

DEAD_EXCHANGE = "siar.dead"
"""Durable topic exchange for dead letters; the routing key is the queue the message died in."""


def queue_name(service: str) -> str:
    """The durable quorum queue a service consumes from, e.g. ``siar.publisher``."""
    return f"siar.{service}"


def dead_queue_name(service: str) -> str:
    """Where a service's dead letters wait, with their reasons, for an operator to replay."""
    return f"siar.{service}.dead"


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
    ),
    "publisher": ("post.due", "post.cancelled", "insights.requested"),
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
"""The routing keys each Siar service's queue is bound to. Every service declares the whole
table at start-up (declarations are idempotent), so an event is never dropped for want of a queue
because one service happened to start before another."""
