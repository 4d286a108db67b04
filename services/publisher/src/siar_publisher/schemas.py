"""The publisher's HTTP request and response bodies. Credentials go in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RateLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(ge=1, le=1_000_000, description="Posts started at most in any window")
    window_seconds: int = Field(ge=1, le=7 * 24 * 3600)


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: str = Field(examples=["mastodon"])
    base_url: str = Field(
        pattern=r"^https?://",
        examples=["https://mastodon.social", "http://127.0.0.1:8010/mastodon"],
        description="The platform's API root (the sandbox's in a fresh install)",
    )
    credentials: dict[str, str] = Field(
        description="mastodon: {access_token}; telegram: {bot_token}", examples=[{"access_token": "…"}]
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="telegram: {chat_id: '@channel'}; mastodon: {visibility, language}"
    )
    handle: str | None = Field(default=None, description="Only needed when verify is false")
    rate_limit: RateLimitIn | None = Field(
        default=None, description="Publishing rate for this account; the platform's default when absent"
    )
    verify: bool = Field(default=True, description="Check the credentials with the platform first")

    @field_validator("credentials")
    @classmethod
    def _printable_ascii(cls, credentials: dict[str, str]) -> dict[str, str]:
        # Tokens and passwords travel in HTTP headers, which carry only ASCII; anything else is a
        # paste gone wrong, better refused here than failing at every call to the platform.
        for key, value in credentials.items():
            if not all(" " <= ch <= "~" for ch in value):
                raise ValueError(f"{key}: only printable ASCII characters (as the platform gave it)")
        return credentials


class AccountOut(BaseModel):
    account_id: str
    platform: str
    handle: str
    display_name: str | None
    base_url: str
    settings: dict[str, Any]
    limits: dict[str, int]
    status: str
    status_reason: str | None
    paused_until: datetime | None
    rate_limit: int = Field(description="Posts started at most per window (the platform's default unless set)")
    rate_window_seconds: int
    token_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AccountList(BaseModel):
    accounts: list[AccountOut]


class DeliveryOut(BaseModel):
    target_id: str
    post_id: str
    account_id: str
    platform: str
    state: str
    attempts: int
    due_at: datetime
    next_attempt_at: datetime
    first_attempt_at: datetime | None
    platform_post_id: str | None
    url: str | None
    error_class: str | None
    reason: str | None
    detail: str | None
    updated_at: datetime
