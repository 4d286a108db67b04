"""The scheduler's HTTP request and response bodies."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

TargetStatus = Literal["scheduled", "due", "retrying", "published", "failed", "cancelled"]
PostStatus = Literal[
    "draft", "in_review", "scheduled", "publishing", "published", "partially_published", "failed", "cancelled"
]
ReviewState = Literal["draft", "in_review", "approved"]


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
        min_length=1, max_length=50, description="The accounts to post to: ids (from GET /v1/accounts), or "
        "platform:handle, a handle, or a platform with one account"
    )
    scheduled_at: datetime = Field(
        description="With an offset (2026-12-01T09:00:00+07:00), or local time: in `timezone`, else in the "
                    "library's (SIAR_TIMEZONE)"
    )
    timezone: str | None = Field(default=None, examples=["Asia/Jakarta"], description="IANA time zone")
    campaign_id: UUID | None = Field(default=None, description="The campaign it belongs to; its hashtags are added")
    draft: bool = Field(
        default=False,
        description="Keep it as a draft (not submitted: no review, never goes out) until POST /v1/posts/{id}/submit",
    )

    @field_validator("targets")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each account may be named once")
        return value


class PostCopy(BaseModel):
    """A new post made from an existing one: the way to send again what failed (a broken image
    link, an account that had to be reconnected) — a failed target is never sent again itself."""

    model_config = ConfigDict(extra="forbid")

    scheduled_at: datetime = Field(description="When the copy goes out: with an offset, or local time in "
                                   "`timezone` (the original's if not given)")
    timezone: str | None = Field(default=None, examples=["Asia/Jakarta"], description="IANA time zone; "
                                 "default: the original's")
    targets: list[str] | None = Field(
        default=None, min_length=1, max_length=50,
        description="Account ids; default: the accounts whose targets failed for certain (not outcome_unknown)",
    )
    text: str | None = Field(default=None, max_length=100_000, description="Default: the original's text")
    media: list[MediaIn] | None = Field(default=None, max_length=35, description="Default: the original's media")
    title: str | None = Field(default=None, max_length=2200, description="Default: the original's title")
    draft: bool = False

    @field_validator("targets")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each account may be named once")
        return value


class PostUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=100_000)
    media: list[MediaIn] | None = Field(default=None, max_length=35)
    title: str | None = Field(default=None, max_length=2200)
    scheduled_at: datetime | None = None
    timezone: str | None = Field(
        default=None,
        description="IANA zone. Alone it changes how the time is shown, never when the post goes out "
                    "(09:00 in Jakarta stays that instant, 03:00 in Berlin); to keep 09:00 on the new zone's "
                    "clock, give scheduled_at as local time with it",
    )
    campaign_id: UUID | None = Field(default=None, description="null removes it from its campaign")


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
    reason: str | None = Field(default=None, description="Why it failed or is being retried; for a published target, what the library should know (YouTube made the video private)")
    attempts: int = 0
    text: str | None = Field(default=None, description="What this target sends, when not the post's text "
                                                       "(the campaign's hashtags added for its platform)")


class FindingOut(BaseModel):
    check: Literal["flagged_words", "alt_text", "link_source", "hashtag_case", "campaign_dates", "campaign_hashtags",
                   "media_links"]
    severity: Literal["block", "warn"]
    message: str
    field: str = Field(description="text, title, media[0], media[0].alt_text or scheduled_at")
    start: int | None = Field(default=None, description="Offset of the match in the field (characters)")
    end: int | None = None
    match: str | None = None
    rule: str | None = Field(default=None, description="The flagged word or phrase, or the rule broken")
    category: str | None = None
    suggestion: str | None = None


class ReviewOut(BaseModel):
    state: ReviewState
    created_by: str | None = None
    edited_by: str | None = Field(default=None, description="Who last changed the content")
    submitted_by: str | None = None
    submitted_at: datetime | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    comment: str | None = Field(default=None, description="The reviewer's comment when approving or sending back")


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
    campaign_id: UUID | None = None
    series_id: UUID | None = Field(default=None, description="The series or event promotion that made it")
    occurrence_key: str | None = Field(default=None, description="Its place in the series: local date, or D-7")
    detached: bool = Field(default=False, description="Edited on its own: changes to the series leave it be")
    review: ReviewOut
    findings: list[FindingOut] = Field(default_factory=list, description="Content checks (warnings kept)")


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


# -- review ----------------------------------------------------------------------------------


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=2000)


class SendBackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    comment: str = Field(min_length=1, max_length=2000, examples=["Tolong sebutkan sumber datanya."],
                         description="Why, for the author: required, and more than spaces")


class CheckRequest(BaseModel):
    """Content to check without storing anything."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=100_000)
    media: list[MediaIn] = Field(default_factory=list, max_length=35)
    title: str | None = Field(default=None, max_length=2200)
    campaign_id: UUID | None = None


class CheckResult(BaseModel):
    blocked: bool = Field(description="Whether a blocking check would refuse this content")
    findings: list[FindingOut]


class ChecksConfigOut(BaseModel):
    modes: dict[str, Literal["block", "warn", "off"]]
    terms: int = Field(description="How many words and phrases are on the flagged list")
    source_markers: list[str]
    exempt_domains: list[str]
    review_required: bool
    timezone: str


# -- campaigns -------------------------------------------------------------------------------


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Minggu Buku Palembang"])
    hashtags: list[str] = Field(
        default_factory=list, max_length=30, examples=[["MingguBukuPalembang", "PalembangBaca"]],
        description="Added to the campaign's posts (a leading # is optional)",
    )
    starts_on: date | None = None
    ends_on: date | None = None
    goal: str | None = Field(default=None, max_length=2000, examples=["500 peminjam baru"])


class CampaignUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    hashtags: list[str] | None = Field(default=None, max_length=30)
    starts_on: date | None = None
    ends_on: date | None = None
    goal: str | None = Field(default=None, max_length=2000)


class CampaignOut(BaseModel):
    campaign_id: UUID
    name: str
    hashtags: list[str]
    starts_on: date | None
    ends_on: date | None
    goal: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    posts: int = Field(default=0, description="Posts in the campaign (not counting cancelled ones)")


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]


# -- series and event promotions -------------------------------------------------------------


class SeriesContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    media: list[MediaIn] = Field(default_factory=list, max_length=35)
    targets: list[str] = Field(min_length=1, max_length=50, description="Account ids to post to")
    campaign_id: UUID | None = None
    timezone: str | None = Field(default=None, description="IANA zone; the library's (SIAR_TIMEZONE) if not given")
    draft: bool = Field(default=False, description="Keep the series as a draft until POST .../submit")

    @field_validator("targets")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each account may be named once")
        return value


class SeriesCreate(SeriesContent):
    text: str = Field(max_length=100_000, examples=["Jam buka akhir pekan: Sabtu 08.00-14.00. #PalembangBaca"])
    title: str | None = Field(default=None, max_length=2200, description="Video title (YouTube, TikTok)")
    start: datetime = Field(
        description="The first occurrence as local time (2026-12-04T09:00:00); its time of day is every one's",
        examples=["2026-12-04T09:00:00"],
    )
    rrule: str = Field(
        max_length=500,
        description="RFC 5545 RRULE value, evaluated in the zone: FREQ=WEEKLY;BYDAY=FR or FREQ=MONTHLY;BYDAY=1MO,3MO",
        examples=["FREQ=WEEKLY;BYDAY=FR"],
    )
    until: date | None = Field(default=None, description="Last day (inclusive, local); or UNTIL in the rule")
    count: int | None = Field(default=None, ge=1, le=1000, description="How many occurrences; or COUNT in the rule")
    exdates: list[date] = Field(default_factory=list, max_length=500, description="Local dates to skip")


class SeriesUpdate(BaseModel):
    """Changes the series and every occurrence that has not gone out (except those edited on their own)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=100_000)
    media: list[MediaIn] | None = Field(default=None, max_length=35)
    title: str | None = Field(default=None, max_length=2200)
    targets: list[str] | None = Field(default=None, min_length=1, max_length=50)
    campaign_id: UUID | None = None
    timezone: str | None = None
    start: datetime | None = None
    rrule: str | None = Field(default=None, max_length=500)
    until: date | None = None
    count: int | None = Field(default=None, ge=1, le=1000)
    exdates: list[date] | None = Field(default=None, max_length=500)


class EventDetails(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300, examples=["Lomba Mendongeng Anak"])
    starts_at: datetime = Field(description="Local time of the event (or with an offset)", examples=["2026-12-12T10:00:00"])
    place: str | None = Field(default=None, max_length=300, examples=["Aula Perpustakaan Kota Palembang"])
    link: str | None = Field(default=None, max_length=2048, examples=["https://perpus.palembang.go.id/lomba"])
    days_before: list[int] = Field(
        default=[7, 3, 1, 0], min_length=1, max_length=60, description="A post this many days before; 0 is the day itself"
    )
    post_time: time = Field(default=time(9, 0), description="Local time of day the countdown posts go out")
    template: str | None = Field(
        default=None, max_length=5000, examples=["{countdown}: {title}! {date}, {time} di {place}. {link}"],
        description="Text of every countdown post: {title} {days} {countdown} {date} {time} {place} {link}",
    )
    templates: dict[int, str] = Field(
        default_factory=dict, description="Texts for particular days, e.g. {\"0\": \"Hari ini! ...\"}"
    )
    language: Literal["id", "en"] = Field(default="id", description="Of the default text, dates and 'Besok'/'Tomorrow'")

    @field_validator("days_before")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 365 for d in value):
            raise ValueError("days before the event are from 0 to 365")
        if len(set(value)) != len(value):
            raise ValueError("each day may be named once")
        return value


class EventCreate(SeriesContent, EventDetails):
    video_title: str | None = Field(default=None, max_length=2200, description="Video title (YouTube, TikTok)")


class EventUpdate(BaseModel):
    """Moves or changes the event: every countdown post that has not gone out follows."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=300)
    starts_at: datetime | None = None
    place: str | None = Field(default=None, max_length=300)
    link: str | None = Field(default=None, max_length=2048)
    days_before: list[int] | None = Field(default=None, min_length=1, max_length=60)
    post_time: time | None = None
    template: str | None = Field(default=None, max_length=5000)
    templates: dict[int, str] | None = None
    language: Literal["id", "en"] | None = None
    media: list[MediaIn] | None = Field(default=None, max_length=35)
    video_title: str | None = Field(default=None, max_length=2200, description="Video title (YouTube, TikTok)")
    targets: list[str] | None = Field(default=None, min_length=1, max_length=50)
    campaign_id: UUID | None = None
    timezone: str | None = None


class OccurrenceOut(BaseModel):
    post_id: UUID
    occurrence_key: str
    scheduled_at: datetime
    scheduled_local: datetime
    status: PostStatus
    detached: bool


class SeriesOut(BaseModel):
    series_id: UUID
    kind: Literal["recurrence", "countdown"]
    status: Literal["active", "cancelled"]
    text: str = Field(description="Recurrence: the posts' text; countdown: the template")
    media: list[MediaIn]
    title: str | None
    targets: list[str]
    campaign_id: UUID | None
    timezone: str
    start: datetime = Field(description="Recurrence: the first occurrence; countdown: the event's start (local)")
    rrule: str | None = None
    exdates: list[date] = Field(default_factory=list)
    event: dict[str, Any] | None = Field(default=None, description="Countdown: the event and its countdown settings")
    review: ReviewOut
    cancel_reason: str | None = None
    materialised_until: datetime | None = Field(default=None, description="Posts exist up to here; more are made daily")
    version: int
    created_at: datetime
    updated_at: datetime
    occurrences: list[OccurrenceOut] = Field(default_factory=list)


class SeriesList(BaseModel):
    series: list[SeriesOut]


# -- rhythm, calendar ------------------------------------------------------------------------


class RhythmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    posts: int = Field(ge=1, le=1000, examples=[2])
    per: Literal["week", "month"] = Field(examples=["month"])


class RhythmOut(BaseModel):
    account_id: str
    platform: str | None = None
    handle: str | None = None
    posts: int
    per: Literal["week", "month"]
    updated_by: str
    updated_at: datetime


class RhythmList(BaseModel):
    rhythms: list[RhythmOut]


class GapOut(BaseModel):
    account_id: str
    platform: str | None
    handle: str | None
    period: str = Field(description="2026-12 or 2026-W50")
    start: date
    end: date = Field(description="Last day of the period (inclusive)")
    target: int
    planned: int = Field(description="Posts planned or out in the period (not cancelled or failed)")
    awaiting_review: int = Field(description="Of those, how many are not approved yet")
    shortfall: int


class GapList(BaseModel):
    timezone: str
    months: list[str]
    gaps: list[GapOut] = Field(description="Periods that fall short of the account's rhythm")
    periods: list[GapOut] = Field(description="Every period of every account with a rhythm")


class CalendarPost(BaseModel):
    post_id: UUID
    local_time: str = Field(description="HH:MM in the calendar's zone")
    scheduled_at: datetime
    status: PostStatus
    review_state: ReviewState
    text: str = Field(description="The first 140 characters")
    platforms: list[str]
    account_ids: list[str]
    campaign_id: UUID | None
    campaign: str | None
    series_id: UUID | None


class CalendarDay(BaseModel):
    date: date
    weekday: str
    posts: list[CalendarPost]


class CalendarView(BaseModel):
    timezone: str
    view: Literal["month", "week"]
    period: str = Field(description="2026-12 or 2026-W50")
    start: date
    end: date
    days: list[CalendarDay]
    gaps: list[GapOut] = Field(default_factory=list, description="Where the period falls short of a rhythm")


class ImportRow(BaseModel):
    row: int = Field(description="Row in the file (the header is row 1)")
    status: Literal["accepted", "refused", "skipped"] = Field(
        description="skipped: a row of an export whose post is in the calendar already, or a row that would "
                    "post the same text to the same account at the same time as a planned post or an earlier row")
    post_id: UUID | None = None
    scheduled_at: datetime | None = None
    reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class ImportReport(BaseModel):
    imported: int
    accepted: int
    refused: int
    skipped: int = 0
    dry_run: bool
    rows: list[ImportRow]
    notes: list[str] = Field(default_factory=list, description="About the file as a whole (ignored columns)")
