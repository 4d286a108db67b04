"""What the library decided, as one value the domain functions take: review, checks, zone."""

from __future__ import annotations

from dataclasses import dataclass, field

from siar_runtime.egress import Egress

from .checks import ChecksConfig, config_from_settings


@dataclass(frozen=True)
class Policy:
    grace_seconds: int = 300
    review_required: bool = False
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    timezone: str = "Asia/Jakarta"
    horizon_days: int = 90
    import_max_rows: int = 5000
    survey_review_minutes: int = 60
    media_check_seconds: float = 5
    egress: Egress = field(default_factory=Egress)  # where media links may lead: public servers only

    @classmethod
    def from_settings(cls, settings) -> Policy:
        return cls(
            grace_seconds=settings.past_grace_seconds,
            review_required=settings.review_required,
            checks=config_from_settings(settings),
            timezone=settings.timezone,
            horizon_days=settings.series_horizon_days,
            import_max_rows=settings.import_max_rows,
            survey_review_minutes=settings.survey_review_minutes,
            media_check_seconds=settings.media_check_seconds,
            egress=settings.egress(),
        )
