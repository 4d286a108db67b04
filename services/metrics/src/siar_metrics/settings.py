from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator, model_validator
from siar_runtime import zones
from siar_runtime.auth import check_production_tokens, parse_tokens
from siar_runtime.settings import ServiceSettings

DEV_TOKEN = "siar-dev-token"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``3d``, ``2w`` or plain seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (say 90s, 15m, 1h, 3d or 2w)")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def schedule(text: str) -> tuple[tuple[str, timedelta], ...]:
    """``1h,6h,1d`` → ((label, offset), …) in increasing order, without repeats."""
    steps = {duration(part): part.strip() for part in text.split(",") if part.strip()}
    if not steps:
        raise ValueError("the collection schedule needs at least one step, say 1h,1d,7d")
    return tuple((label, offset) for offset, label in sorted(steps.items()))


class MetricsSettings(ServiceSettings):
    http_port: int = 8003
    api_tokens: str = Field(default=f"{DEV_TOKEN}:admin", description="Comma-separated token:role pairs")
    prefetch: int = Field(default=512, ge=1, description="Unacknowledged messages: answers are stored in batches")
    timezone: str = Field(default="Asia/Jakarta", description="The library's IANA time zone (best hours to post)")

    # When to collect
    collection_schedule: str = Field(
        default="1h,6h,1d,3d,7d,30d", description="A published post's engagement is read this long after publication"
    )
    collection_audience_interval: str = Field(default="1d", description="How often each account's audience is read")
    collection_answer_timeout: str = Field(
        default="15m", description="A request not answered by then is asked again (same request id)"
    )
    collection_max_attempts: int = Field(default=8, ge=1, description="Requests per collection before it is given up")
    collection_backoff_seconds: float = Field(default=60, gt=0, description="First wait after a failure without retry_at")
    collection_backoff_max_seconds: float = Field(default=6 * 3600, gt=0)
    collection_batch: int = Field(default=500, ge=1, description="Due collections requested per transaction")
    collection_in_flight: int = Field(
        default=200, ge=1,
        description="Requests waiting for an answer at once; keeps the publisher's queue (shared with post.due) short",
    )
    sweep_seconds: float = Field(default=5.0, gt=0, description="Safety sweep of due collections even without NOTIFY")

    # How answers are stored
    ingest_batch: int = Field(default=500, ge=1, description="Answers stored per transaction (one statement)")
    ingest_linger_ms: float = Field(
        default=0, ge=0,
        description="0: a batch goes as soon as fewer than ingest_concurrency are being stored (what arrives meanwhile "
                    "waits for the next); > 0: every batch waits this long to fill up",
    )
    ingest_concurrency: int = Field(default=2, ge=1, description="Batches stored at once (each on its own connection)")
    sample_retention_days: int = Field(default=0, ge=0, description="Samples older than this are deleted; 0 keeps them forever")

    # Prometheus
    campaign_labels: int = Field(
        default=10, ge=0, le=100,
        description="Campaigns exported as their own label value (the most active); the rest are 'other'",
    )
    gauge_window_days: int = Field(default=30, ge=1, description="Window of the engagement gauges")
    gauge_refresh_seconds: float = Field(default=15, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        value = zones.canonical(value) or value  # SIAR_TIMEZONE=WIB
        zones.zone(value)  # UnknownZone, a ValueError: a settings error saying so
        return value

    @model_validator(mode="after")
    def _valid(self) -> MetricsSettings:
        schedule(self.collection_schedule)
        duration(self.collection_audience_interval)
        duration(self.collection_answer_timeout)
        tokens = parse_tokens(self.api_tokens)
        if self.environment == "production":
            check_production_tokens(tokens)
        return self

    @property
    def tokens(self) -> dict[str, str]:
        return parse_tokens(self.api_tokens)

    @property
    def steps(self) -> tuple[tuple[str, timedelta], ...]:
        return schedule(self.collection_schedule)

    @property
    def audience_interval(self) -> timedelta:
        return duration(self.collection_audience_interval)

    @property
    def answer_timeout(self) -> timedelta:
        return duration(self.collection_answer_timeout)
