from __future__ import annotations

from pydantic import Field, model_validator
from siar_runtime.auth import parse_tokens
from siar_runtime.settings import ServiceSettings

DEV_TOKEN = "siar-dev-token"
DEV_SECRET = "siar-dev-feedback-secret-change-me"


class FeedbackSettings(ServiceSettings):
    http_port: int = 8004
    api_tokens: str = Field(
        default=f"{DEV_TOKEN}:admin",
        description="Comma-separated token:role pairs (roles: editor, reviewer, admin)",
    )
    feedback_secret: str = Field(
        default=DEV_SECRET,
        min_length=16,
        description="Signs the patron cookie and keys the per-survey patron hash (SIAR_FEEDBACK_SECRET)",
    )
    survey_base_url: str = Field(
        default="http://127.0.0.1:8004",
        pattern=r"^https?://",
        description="Public address patrons reach the survey pages at; survey links start with it",
    )
    sweep_seconds: float = Field(default=5.0, gt=0, description="Safety sweep for opening and closing dates")
    metrics_refresh_seconds: float = Field(default=15.0, gt=0, description="How often the NPS gauges are recomputed")

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> FeedbackSettings:
        tokens = parse_tokens(self.api_tokens)
        if self.environment == "production":
            if DEV_TOKEN in tokens:
                raise ValueError("SIAR_API_TOKENS still holds the development token; set real tokens")
            if self.feedback_secret == DEV_SECRET:
                raise ValueError("SIAR_FEEDBACK_SECRET is the development secret; set a long random one")
        return self

    @property
    def tokens(self) -> dict[str, str]:
        return parse_tokens(self.api_tokens)

    @property
    def base_url(self) -> str:
        return self.survey_base_url.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.survey_base_url.startswith("https://")
