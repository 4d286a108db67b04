"""Settings from environment variables with the ``SIAR_`` prefix, one class per service."""

from __future__ import annotations

import json
import sys
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .egress import Egress, networks


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
    inbox_keep_days: int = Field(default=30, ge=1, description="How long received event ids are kept "
                                 "to recognise a redelivered event")
    allowed_private_addresses: str = Field(
        default="", description="Private addresses and networks (comma-separated) that a media link an editor "
        "gives may lead to (siar_runtime.egress); empty: public servers only")

    @field_validator("allowed_private_addresses")
    @classmethod
    def _addresses(cls, value: str) -> str:
        networks(value)  # ValueError naming the entry
        return value

    def egress(self) -> Egress:
        """Where the links editors give may be fetched from (the scheduler's check, the publisher's download)."""
        return Egress(networks(self.allowed_private_addresses))

    @model_validator(mode="after")
    def _no_example_password_in_production(self) -> ServiceSettings:
        """The passwords of .env.example all start ``siar-dev-``: in production they are refused
        here, in the addresses compose builds from them (each service's own secrets are checked
        by its settings class; Grafana's password is Grafana's)."""
        if self.environment == "production":
            for name, url, variable in (("SIAR_DATABASE_URL", self.database_url, "POSTGRES_PASSWORD"),
                                        ("SIAR_AMQP_URL", self.amqp_url, "RABBITMQ_PASSWORD")):
                if "siar-dev-" in url:
                    raise ValueError(f"{name} holds the example password of .env.example (siar-dev-…): "
                                     f"set a real {variable} for production")
        return self


Settings = TypeVar("Settings", bound=BaseSettings)


def load_settings(cls: type[Settings], service: str) -> Settings:
    """The service's settings from the environment; if they are wrong, one JSON line on stderr
    naming each variable and what is wrong with it, and exit status 2. Never pydantic's own
    report: its summary of the input showed the end of the last variable read, a secret's tail
    (SIAR_CREDENTIALS_KEY, SIAR_FEEDBACK_SECRET) in the container's log."""
    try:
        return cls()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            message = error["msg"].removeprefix("Value error, ")
            field = error["loc"][0] if error["loc"] else None
            problems.append(f"SIAR_{str(field).upper()}: {message}" if field else message)
        line = {"level": "error", "service": service, "event": "settings are wrong; not starting",
                "problems": problems}
        print(json.dumps(line, ensure_ascii=False), file=sys.stderr, flush=True)
        raise SystemExit(2) from None
