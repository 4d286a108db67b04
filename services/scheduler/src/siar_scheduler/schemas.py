"""The scheduler's HTTP request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

TargetStatus = Literal["scheduled", "due", "retrying", "published", "failed", "cancelled"]
PostStatus = Literal[
    "scheduled", "publishing", "published", "partially_published", "failed", "cancelled"
]


class MediaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://", examples=["https://example.org/poster.jpg"])
    kind: Literal["image", "video", "gif"] = "image"
    alt_text: str | None = Field(default=None, max_length=1500)
    mime_type: str | None = None
    size_bytes: int | None = Field(default=None, ge=0)
    duration_seconds: float | None = Field(default=None, ge=0)


class PostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=100_000, examples=["Pameran buku anak minggu ini! #PalembangBaca"])
    media: list[MediaIn] = Field(default_factory=list, max_length=35)
    title: str | None = Field(default=None, max_length=2200, description="Video title (YouTube, TikTok)")
    targets: list[str] = Field(
        min_length=1, max_length=50, description="Account ids (from GET /v1/accounts) to post to"
    )
    scheduled_at: datetime = Field(
        description="With an offset (2026-12-01T09:00:00+07:00), or local time with `timezone`"
    )
    timezone: str | None = Field(default=None, examples=["Asia/Jakarta"], description="IANA time zone")

    @field_validator("targets")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each account may be named once")
        return value


class PostUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=100_000)
    media: list[MediaIn] | None = Field(default=None, max_length=35)
    title: str | None = Field(default=None, max_length=2200)
    scheduled_at: datetime | None = None
    timezone: str | None = None


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="cancelled by a person", max_length=500)


class TargetOut(BaseModel):
    target_id: UUID
    account_id: str
    platform: str
    status: TargetStatus
    due_at: datetime
    dispatched_at: datetime | None = None
    published_at: datetime | None = None
    platform_post_id: str | None = None
    url: str | None = None
    error_class: str | None = None
    reason: str | None = Field(default=None, description="Why it failed or is being retried")
    attempts: int = 0


class PostOut(BaseModel):
    post_id: UUID
    status: PostStatus
    text: str
    media: list[MediaIn]
    title: str | None
    scheduled_at: datetime
    scheduled_local: datetime = Field(description="scheduled_at in the post's time zone")
    timezone: str | None
    correlation_id: str
    version: int
    created_at: datetime
    updated_at: datetime
    targets: list[TargetOut]


class PostList(BaseModel):
    posts: list[PostOut]
    next_cursor: str | None = None


class AccountOut(BaseModel):
    account_id: str
    platform: str
    handle: str
    display_name: str | None
    status: str
    status_reason: str | None
    limits: dict[str, int]


class AccountList(BaseModel):
    accounts: list[AccountOut]
