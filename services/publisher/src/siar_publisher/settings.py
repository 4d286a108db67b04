from __future__ import annotations

import os

from pydantic import Field, model_validator
from siar_runtime.auth import check_production_tokens, parse_tokens
from siar_runtime.settings import ServiceSettings

DEV_TOKEN = "siar-dev-token"
# A fixed key so that a development database survives restarts; refused in production.
DEV_CREDENTIALS_KEY = "c2lhci1kZXZlbG9wbWVudC1rZXktbm90LWZvci11c2U="


class PublisherSettings(ServiceSettings):
    http_port: int = 8002
    api_tokens: str = Field(default=f"{DEV_TOKEN}:admin", description="Comma-separated token:role pairs")
    credentials_key: str = Field(
        default=DEV_CREDENTIALS_KEY,
        description="Fernet key (32 url-safe base64 bytes) that encrypts account credentials at rest",
    )
    concurrency: int = Field(default=64, ge=1, description="Platform calls in flight per replica")
    insights_prefetch: int = Field(
        default=16, ge=1,
        description="Insights requests read at once per replica (each is one platform call), from their own queue",
    )
    claim_batch: int = Field(default=100, ge=1)
    lease_seconds: float = Field(default=45, gt=0, description="After this a dead worker's delivery is reclaimed")
    http_timeout_seconds: float = Field(default=15, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    sweep_seconds: float = Field(default=5.0, gt=0)
    token_refresh_ahead_seconds: float = Field(
        default=600, gt=0,
        description="Refresh an expiring access token at least this long before it ends; a token is renewed a "
        "fifth of its lifetime ahead (at most 14 days) when that is longer, so a 60-day token 12 days early",
    )
    media_max_bytes: int = Field(
        default=4 * 1024**3, ge=1024**2,
        description="The largest file Siar uploads to YouTube, TikTok and X, and Bluesky's videos: they are "
        "downloaded to SIAR_MEDIA_DIR and sent as they are read, not held in memory (what is held in memory, "
        "for the other platforms, is at most 200 MiB)",
    )
    media_disk_bytes: int = Field(
        default=8 * 1024**3, ge=1024**2,
        description="Disk that downloaded media may take at once per replica; a download waits for room "
        "(one file is always let through)",
    )
    media_dir: str = Field(
        default="", description="Where downloaded media is kept while it uploads; empty: the system's "
        "temporary directory (TMPDIR). The files have no name and go when the upload ends",
    )
    linkedin_version: str = Field(
        default="", pattern=r"^(\d{6}(\.\d{2})?)?$",
        description="LinkedIn-Version (YYYYMM) sent to LinkedIn's Posts API; empty: the adapter's default. "
        "LinkedIn retires each version about a year after its release (HTTP 426), so set a recent month. "
        "The LinkedIn adapter reads the same variable, SIAR_LINKEDIN_VERSION",
    )

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> PublisherSettings:
        tokens = parse_tokens(self.api_tokens)
        if self.environment == "production":
            check_production_tokens(tokens)
            if self.credentials_key == DEV_CREDENTIALS_KEY:
                raise ValueError("SIAR_CREDENTIALS_KEY is the development key; generate one with "
                                 "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")
        if self.media_dir and not (os.path.isdir(self.media_dir) and os.access(self.media_dir, os.W_OK | os.X_OK)):
            # Found now, not at the first video (where every post with one would wait, transient).
            raise ValueError(f"SIAR_MEDIA_DIR {self.media_dir!r} is not a directory the publisher can write to")
        if self.lease_seconds <= self.http_timeout_seconds * 2:
            raise ValueError("SIAR_LEASE_SECONDS must exceed twice SIAR_HTTP_TIMEOUT_SECONDS")
        return self

    @property
    def tokens(self) -> dict[str, str]:
        return parse_tokens(self.api_tokens)
