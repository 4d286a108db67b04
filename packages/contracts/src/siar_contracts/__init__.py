"""Siar's public event contract: the CloudEvents envelope, versioned payloads and the
names of the exchanges and queues that other systems bind to."""

from .envelope import CONTENT_TYPE, CloudEvent, EnvelopeError
from .errors import ErrorClass
from .events import (
    EVENTS,
    AccountNeedsReconnect,
    AccountRegistered,
    AccountUpdated,
    EventSpec,
    MediaItem,
    PostCancelled,
    PostDue,
    PostFailed,
    PostPublished,
    PostRetrying,
    PostScheduled,
    PostUpdated,
    TargetPlan,
    spec_for_model,
    spec_for_type,
)
from .names import (
    BINDINGS,
    DEAD_EXCHANGE,
    DELIVERY_LIMIT,
    EVENTS_EXCHANGE,
    dead_queue_name,
    queue_name,
)

__all__ = [
    "BINDINGS",
    "DELIVERY_LIMIT",
    "CONTENT_TYPE",
    "DEAD_EXCHANGE",
    "EVENTS",
    "EVENTS_EXCHANGE",
    "AccountNeedsReconnect",
    "AccountRegistered",
    "AccountUpdated",
    "CloudEvent",
    "EnvelopeError",
    "ErrorClass",
    "EventSpec",
    "MediaItem",
    "PostCancelled",
    "PostDue",
    "PostFailed",
    "PostPublished",
    "PostRetrying",
    "PostScheduled",
    "PostUpdated",
    "TargetPlan",
    "dead_queue_name",
    "queue_name",
    "spec_for_model",
    "spec_for_type",
]
