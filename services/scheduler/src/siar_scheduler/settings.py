from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from siar_runtime.auth import check_production_tokens, parse_tokens
from siar_runtime.settings import ServiceSettings

DEV_TOKEN = "siar-dev-token"
CheckMode = Literal["block", "warn", "off"]


class SchedulerSettings(ServiceSettings):
    http_port: int = 8001
    api_tokens: str = Field(
        default=f"{DEV_TOKEN}:admin",
        description="Comma-separated token:role pairs (roles: editor, reviewer, admin)",
    )
    dispatch_batch: int = Field(default=500, ge=1, description="Targets claimed per transaction")
    dispatch_parallel: int = Field(
        default=3, ge=1, le=8, description="Claims at once while a burst is going out (each holds a database connection)"
    )
    sweep_seconds: float = Field(default=5.0, gt=0, description="Safety sweep even without NOTIFY")
    overdue_grace_seconds: float = Field(
        default=30, gt=0, description="A target still waiting this long after its time counts as overdue (a gauge)"
    )
    overdue_check_seconds: float = Field(default=15, gt=0, description="How often the overdue gauge is read")
    past_grace_seconds: int = Field(
        default=300, ge=0, description="How far in the past a new post's time may be (it goes out at once)"
    )

    # Content planning
    timezone: str = Field(default="Asia/Jakarta", description="The library's IANA time zone (series, calendar, import)")
    review_required: bool = Field(
        default=False,
        description="Posts go out only once a reviewer (not their author) approved them; off: submitted posts are approved at once",
    )
    survey_review_minutes: int = Field(
        default=60, ge=1, le=7 * 24 * 60,
        description="With review required: how long after a survey opens its announcements wait for a reviewer"
        " (they go out then, once approved)",
    )
    series_horizon_days: int = Field(default=90, ge=7, le=730, description="How far ahead a series' posts are made")
    import_max_rows: int = Field(default=5000, ge=1, description="Most rows one calendar import may hold")
    # Content checks: block (refuse the post), warn (keep it, show the finding) or off
    check_flagged_words: CheckMode = "block"
    check_alt_text: CheckMode = "warn"
    check_link_source: CheckMode = "off"
    check_hashtag_case: CheckMode = "warn"
    check_campaign_dates: CheckMode = "warn"
    check_media_links: CheckMode = Field(
        default="warn", description="Try each media link when a post is written or submitted (a dead link, a web "
        "page instead of the file, a file over a platform's size limit) instead of failing at the post's time")
    media_check_seconds: float = Field(default=5, gt=0, le=60, description="How long the media links may take, in all")
    media_recheck_minutes: int = Field(
        default=60, ge=0, le=1440, description="Try a post's media links again this long before its time, and emit "
        "post.at_risk if one no longer works (0: not again)")
    flagged_words_file: str | None = Field(
        default=None, description="A list file of the library's own (term | category | language a line); empty: none"
    )
    flagged_words: str = Field(default="", description="Comma-separated terms added to the list")
    source_markers: str = Field(
        default="sumber,source,via,dikutip dari,quoted from,kredit,credit",
        description="Words that cite a link's source on its line",
    )
    source_exempt_domains: str = Field(default="", description="The library's own domains: links there need no source")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from .timing import canonical, zone

        value = canonical(value) or value  # SIAR_TIMEZONE=WIB
        zone(value)
        return value

    @model_validator(mode="after")
    def _no_dev_token_in_production(self) -> SchedulerSettings:
        tokens = parse_tokens(self.api_tokens)
        if self.environment == "production":
            check_production_tokens(tokens)
        return self

    @property
    def tokens(self) -> dict[str, str]:
        return parse_tokens(self.api_tokens)
