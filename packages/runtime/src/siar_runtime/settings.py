"""Settings from environment variables with the ``SIAR_`` prefix, one class per service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service reads. Subclasses add their own fields and a default port."""

    model_config = SettingsConfigDict(env_prefix="SIAR_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/siar"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "info"
    log_format: Literal["json", "console"] = "json"
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    prefetch: int = Field(default=64, ge=1, description="Unacknowledged messages per consumer")
    outbox_batch: int = Field(default=500, ge=1)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
