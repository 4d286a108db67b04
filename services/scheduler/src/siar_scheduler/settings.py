from __future__ import annotations

from pydantic import Field, model_validator
from siar_runtime.auth import parse_tokens
from siar_runtime.settings import ServiceSettings

DEV_TOKEN = "siar-dev-token"


class SchedulerSettings(ServiceSettings):
    http_port: int = 8001
    api_tokens: str = Field(
        default=f"{DEV_TOKEN}:admin",
        description="Comma-separated token:role pairs (roles: editor, reviewer, admin)",
    )
    dispatch_batch: int = Field(default=500, ge=1, description="Targets claimed per transaction")
    sweep_seconds: float = Field(default=5.0, gt=0, description="Safety sweep even without NOTIFY")
    past_grace_seconds: int = Field(
        default=300, ge=0, description="How far in the past a new post's time may be (it goes out at once)"
    )

    @model_validator(mode="after")
    def _no_dev_token_in_production(self) -> SchedulerSettings:
        tokens = parse_tokens(self.api_tokens)
        if self.environment == "production" and DEV_TOKEN in tokens:
            raise ValueError("SIAR_API_TOKENS still holds the development token; set real tokens")
        return self

    @property
    def tokens(self) -> dict[str, str]:
        return parse_tokens(self.api_tokens)
