"""The CloudEvents 1.0 envelope in structured JSON mode.

``source`` + ``id`` is unique, so consumers deduplicate on that pair. ``correlationid`` is a
CloudEvents extension attribute that follows one post through every service and log line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONTENT_TYPE = "application/cloudevents+json"


class EnvelopeError(ValueError):
    """A message that is not a readable CloudEvent; the reason goes with it to the dead letters."""


def _now() -> datetime:
    return datetime.now(UTC)


class CloudEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: datetime = Field(default_factory=_now)
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str = Field(min_length=1)
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a UTC offset")
        return value

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, body: bytes | str) -> CloudEvent:
        """A received event. ``id`` and ``specversion`` have defaults for the events Siar makes,
        but one that arrives must carry them (CloudEvents 1.0 requires both): an event without an
        id given a fresh one on each delivery could never be recognised as a repeat."""
        try:
            event = cls.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise EnvelopeError(f"not a CloudEvent: {where}: {first['msg']}") from exc
        missing = sorted({"id", "specversion"} - event.model_fields_set)
        if missing:
            raise EnvelopeError(f"not a CloudEvent: {missing[0]}: Field required")
        return event

    @property
    def short_name(self) -> str:
        """``org.siar.post.due.v1`` → ``post.due``."""
        parts = self.type.split(".")
        if len(parts) >= 4 and parts[0] == "org" and parts[1] == "siar":
            return ".".join(parts[2:-1])
        return self.type
