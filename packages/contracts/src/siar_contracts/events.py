"""Versioned event payloads. A breaking change is a new ``type`` version emitted beside the old
one for a while; additive optional fields are not breaking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .envelope import CloudEvent
from .errors import ErrorClass


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class MediaItem(Payload):
    url: str
    kind: Literal["image", "video", "gif"] = "image"
    alt_text: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    duration_seconds: float | None = None


class TargetPlan(Payload):
    target_id: str
    account_id: str
    platform: str
    due_at: datetime
    status: str


class PostScheduled(Payload):
    """A post was created and will go out at ``scheduled_at`` to each target."""

    post_id: str
    scheduled_at: datetime
    text: str
    targets: list[TargetPlan]


class PostUpdated(Payload):
    """The text, media or time of a post that has not gone out was changed."""

    post_id: str
    scheduled_at: datetime
    text: str
    targets: list[TargetPlan]


class PostCancelled(Payload):
    """These targets will not go out. The publisher stops any retry still waiting for them."""

    post_id: str
    target_ids: list[str]
    reason: str


class PostDue(Payload):
    """One target's time has come: publish this content to this account, exactly once."""

    post_id: str
    target_id: str
    account_id: str
    platform: str
    due_at: datetime
    text: str
    media: list[MediaItem] = Field(default_factory=list)
    title: str | None = None


class PostPublished(Payload):
    post_id: str
    target_id: str
    account_id: str
    platform: str
    platform_post_id: str
    url: str | None
    published_at: datetime
    attempts: int


class PostFailed(Payload):
    post_id: str
    target_id: str
    account_id: str
    platform: str
    error_class: ErrorClass
    reason: str = Field(description="What happened, in words a librarian understands")
    detail: str | None = Field(default=None, description="The platform's own answer, for operators")
    failed_at: datetime
    attempts: int


class PostRetrying(Payload):
    post_id: str
    target_id: str
    account_id: str
    platform: str
    error_class: ErrorClass
    reason: str
    attempt: int
    next_attempt_at: datetime


class AccountRegistered(Payload):
    """A platform account was connected; the scheduler keeps it as its own read model."""

    account_id: str
    platform: str
    handle: str
    display_name: str | None = None
    status: str
    limits: dict[str, int] = Field(default_factory=dict)


class AccountUpdated(AccountRegistered):
    pass


class AccountNeedsReconnect(Payload):
    account_id: str
    platform: str
    reason: str


@dataclass(frozen=True)
class EventSpec:
    name: str
    """Short name and routing key, e.g. ``post.due``."""
    version: int
    model: type[Payload]
    summary: str

    @property
    def type(self) -> str:
        return f"org.siar.{self.name}.v{self.version}"

    def envelope(
        self,
        payload: Payload,
        *,
        source: str,
        correlation_id: str,
        subject: str | None = None,
        event_id: str | None = None,
    ) -> CloudEvent:
        if not isinstance(payload, self.model):
            raise TypeError(f"{self.name} carries {self.model.__name__}, not {type(payload).__name__}")
        extra = {"id": event_id} if event_id else {}
        return CloudEvent(
            source=source,
            type=self.type,
            subject=subject,
            correlationid=correlation_id,
            data=payload.model_dump(mode="json"),
            **extra,
        )

    def parse(self, event: CloudEvent) -> Payload:
        return self.model.model_validate(event.data)


EVENTS: tuple[EventSpec, ...] = (
    EventSpec("post.scheduled", 1, PostScheduled, "A post was created and scheduled."),
    EventSpec("post.updated", 1, PostUpdated, "A post that has not gone out was changed."),
    EventSpec("post.cancelled", 1, PostCancelled, "Targets of a post were cancelled."),
    EventSpec("post.due", 1, PostDue, "A target's time has come; publish it exactly once."),
    EventSpec("post.published", 1, PostPublished, "A target was published on its platform."),
    EventSpec("post.failed", 1, PostFailed, "A target could not be published, with the reason."),
    EventSpec("post.retrying", 1, PostRetrying, "A target's attempt failed and will be retried."),
    EventSpec("account.registered", 1, AccountRegistered, "A platform account was connected."),
    EventSpec("account.updated", 1, AccountUpdated, "A platform account's status or limits changed."),
    EventSpec(
        "account.needs_reconnect",
        1,
        AccountNeedsReconnect,
        "An account's credentials were revoked; a person must connect it again.",
    ),
)

_BY_TYPE = {spec.type: spec for spec in EVENTS}
_BY_MODEL = {spec.model: spec for spec in EVENTS}


def spec_for_type(event_type: str) -> EventSpec | None:
    return _BY_TYPE.get(event_type)


def spec_for_model(model: type[Payload]) -> EventSpec:
    return _BY_MODEL[model]
