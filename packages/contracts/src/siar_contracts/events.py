"""Versioned event payloads. A breaking change is a new ``type`` version emitted beside the old
one for a while; additive optional fields are not breaking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    StrictInt,
    StrictStr,
)
from pydantic_core import PydanticCustomError

from .envelope import CloudEvent
from .errors import ErrorClass


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class MediaItem(Payload):
    url: str
    kind: Literal["image", "video", "gif"] = "image"
    alt_text: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    duration_seconds: float | None = None


class TargetPlan(Payload):
    target_id: str
    account_id: str
    platform: str
    due_at: datetime
    status: str


class PostScheduled(Payload):
    """A post was created and will go out at ``scheduled_at`` to each target — once its
    ``review_state`` is ``approved`` (where the library reviews posts, a post.updated says so)."""

    post_id: str
    scheduled_at: datetime
    text: str
    targets: list[TargetPlan]
    campaign_id: str | None = Field(default=None, description="The campaign the post belongs to")
    campaign_hashtags: list[str] = Field(default_factory=list, description="The campaign's hashtags (without #)")
    series_id: str | None = Field(default=None, description="The recurring series or event countdown that made it")
    review_state: str | None = Field(default=None, description="draft, in_review or approved; only approved goes out")


class PostUpdated(Payload):
    """The text, media, time, campaign or review state of a post that has not gone out was changed."""

    post_id: str
    scheduled_at: datetime
    text: str
    targets: list[TargetPlan]
    campaign_id: str | None = Field(default=None, description="The campaign the post belongs to")
    campaign_hashtags: list[str] = Field(default_factory=list, description="The campaign's hashtags (without #)")
    series_id: str | None = Field(default=None, description="The recurring series or event countdown that made it")
    review_state: str | None = Field(default=None, description="draft, in_review or approved; only approved goes out")


class MediaLinkFinding(Payload):
    field: str = Field(description="Which media item: media[0] is the first")
    rule: str = Field(description="unreachable, http_error, not_media, kind_mismatch or private_address")
    message: str = Field(description="What was found, in words a librarian understands")


class PostAtRisk(Payload):
    """Shortly before a post's time (SIAR_MEDIA_RECHECK_MINUTES) its media links were tried
    again, and one no longer works: it cannot be reached, answers an error, is a web page, or leads
    where Siar does not fetch from. Unless someone mends the link or changes the post, the
    publisher fails its targets at their time. For the team's chat bot or mail; the post's
    findings in the scheduler's API say the same."""

    post_id: str
    scheduled_at: datetime
    targets: list[TargetPlan] = Field(description="The targets still to go out")
    findings: list[MediaLinkFinding]
    reason: str = Field(description="The findings in one sentence")
    review_state: str | None = Field(default=None, description="draft, in_review or approved; only approved goes out")
    campaign_id: str | None = Field(default=None, description="The campaign the post belongs to")
    series_id: str | None = Field(default=None, description="The recurring series or event countdown that made it")


class PostCancelled(Payload):
    """These targets will not go out. The publisher stops any retry still waiting for them."""

    post_id: str
    target_ids: list[str]
    reason: str


class PostDue(Payload):
    """One target's time has come: publish this content to this account, exactly once."""

    post_id: str
    target_id: str
    account_id: str
    platform: str
    due_at: datetime
    text: str
    media: list[MediaItem] = Field(default_factory=list)
    title: str | None = None
    campaign_id: str | None = Field(default=None, description="The campaign the post belongs to")


class PostPublished(Payload):
    post_id: str
    target_id: str
    account_id: str
    platform: str
    platform_post_id: str
    url: str | None
    published_at: datetime
    attempts: int
    notice: str | None = Field(
        default=None,
        description="Something the library should know about a post that did go out, in words for people "
                    "(YouTube made the video private: the API project is not verified). Absent when there "
                    "is nothing to say, and from events of older versions.",
    )


class PostFailed(Payload):
    """A target could not be published. Emitted by the publisher; also by the scheduler, with
    error_class not_approved, for a target whose post was not approved by its time."""

    post_id: str
    target_id: str
    account_id: str
    platform: str
    error_class: ErrorClass
    reason: str = Field(description="What happened, in words a librarian understands")
    detail: str | None = Field(default=None, description="The platform's own answer, for operators")
    failed_at: datetime
    attempts: int


class PostRetrying(Payload):
    post_id: str
    target_id: str
    account_id: str
    platform: str
    error_class: ErrorClass
    reason: str
    attempt: int
    next_attempt_at: datetime


class AccountRegistered(Payload):
    """A platform account was connected; the scheduler keeps it as its own read model."""

    account_id: str
    platform: str
    handle: str
    display_name: str | None = None
    status: str
    limits: dict[str, int] = Field(default_factory=dict)
    insights: bool = Field(
        default=True,
        description="Whether the platform gives this account's post statistics and audience: a LinkedIn "
                    "member's profile does not (only an organization page does), so nothing is asked of it",
    )


class AccountUpdated(AccountRegistered):
    pass


class AccountNeedsReconnect(Payload):
    account_id: str
    platform: str
    reason: str


InsightKind = Literal["post", "account"]
MetricValues = dict[str, int | FiniteFloat]  # NaN or infinity is no count: refused at the edge


class InsightsRequested(Payload):
    """The metrics service asks the publisher (the only holder of platform credentials) to read
    one post's engagement (``kind`` post) or one account's audience (``kind`` account). Answered
    by insights.collected or insights.failed carrying the same ``request_id``; a request asked
    again (no answer in time, or a retry) keeps its ``request_id``."""

    request_id: str
    kind: InsightKind
    account_id: str
    platform: str
    platform_post_id: str | None = Field(default=None, description="The post on its platform (kind post)")
    post_id: str | None = None
    target_id: str | None = None
    campaign_id: str | None = None
    attempt: int = Field(default=1, description="1 for the first request, then 2, 3, … for the same request_id")
    requested_at: datetime


class InsightsCollected(Payload):
    """The platform's answer to an insights.requested, in its own metric names (favourites_count,
    like_count, followersCount, …), untranslated."""

    request_id: str
    kind: InsightKind
    account_id: str
    platform: str
    platform_post_id: str | None = None
    post_id: str | None = None
    target_id: str | None = None
    metrics: MetricValues = Field(description="Raw platform metric name → value; empty where the platform offers none")
    collected_at: datetime


class InsightsFailed(Payload):
    """An insights.requested could not be answered; ``retry_at`` says when the platform allows
    another try (rate limit, quota), else the metrics service backs off."""

    request_id: str
    kind: InsightKind
    account_id: str
    platform: str
    platform_post_id: str | None = None
    post_id: str | None = None
    target_id: str | None = None
    error_class: ErrorClass
    reason: str = Field(description="What happened, in words a librarian understands")
    detail: str | None = Field(default=None, description="The platform's own answer, for operators")
    retry_at: datetime | None = None
    failed_at: datetime


class EngagementSampled(Payload):
    """A published post's engagement on one platform at one moment, normalised to Siar's
    vocabulary (views, reach, likes, comments, shares, saves, clicks); counts are totals so far."""

    request_id: str
    post_id: str | None = None
    target_id: str
    account_id: str
    platform: str
    platform_post_id: str | None = None
    campaign_id: str | None = None
    published_at: datetime | None = None
    collected_at: datetime
    metrics: MetricValues = Field(description="Normalised name → value (only the names the platform reports)")
    raw: MetricValues = Field(description="The platform's own metric names and values")
    engagement_rate: float | None = Field(
        default=None, description="(likes + comments + shares + saves) / denominator; see docs/metrics.md"
    )
    engagement_basis: Literal["reach", "views", "followers"] | None = Field(
        default=None, description="The denominator used: reach, else views, else followers at the time"
    )


class AudienceSampled(Payload):
    """An account's audience at one moment."""

    request_id: str
    account_id: str
    platform: str
    collected_at: datetime
    followers: int | float | None = Field(description="Followers, subscribers or channel members")
    raw: MetricValues = Field(description="The platform's own metric names and values")


class LocalizedText(Payload):
    """A text in Indonesian (always) and English (where the library wrote one)."""

    id: str
    en: str | None = None


class SurveyLink(Payload):
    channel: str = Field(description="Where the link is shared: instagram, telegram, poster, …")
    url: str


class SurveyAnnouncement(Payload):
    """One account to announce an opened survey on, with the link for its channel and a ready text."""

    platform: str
    account_id: str | None = Field(
        default=None,
        description="The account (the scheduler's account id) to post on; without one the entry is only a suggestion",
    )
    channel: str
    url: str
    text: str = Field(description="Suggested post text, the link included")


class SurveyOpened(Payload):
    """A survey takes responses from now on. ``announce`` lists where to post its link: the
    scheduler posts each entry that names an account, with its text, as the survey opens (held
    for review first where review is required); an entry without an account (a poster) is a
    suggestion only. An entry the scheduler cannot post (unknown account, text the platform
    refuses) dead-letters the event in ``siar.scheduler.dead`` with the reason, after the others
    were scheduled; replaying it makes only the posts still missing."""

    survey_id: str
    slug: str
    title: LocalizedText
    opens_at: datetime
    closes_at: datetime | None = None
    links: list[SurveyLink]
    announce: list[SurveyAnnouncement] = Field(default_factory=list)
    created_by: str | None = Field(
        default=None,
        description="Who created the survey (and so wrote its announcement text): the actor id every Siar "
                    "service gives an API token, as in the audit log (e.g. 'perp…3fa9c1d2'; surveys created "
                    "before 2026-12-05's release name only the token's first characters, 'perp…'). The "
                    "scheduler makes them the author of the announcement posts, so under review they cannot "
                    "approve those themselves. Absent from events of older versions.",
    )
    edited_by: str | None = Field(
        default=None,
        description="Who last changed what the announcement says or where it goes (the title, the "
                    "announcement's text or language, the accounts), when someone did: as created_by, an actor "
                    "id. The scheduler makes them the announcement posts' editor, so they cannot approve those "
                    "either. Absent when nobody changed it, and from events of older versions.",
    )


class SurveyClosed(Payload):
    """A survey takes no more responses; the headline results at the moment it closed."""

    survey_id: str
    slug: str
    closed_at: datetime
    reason: Literal["closed_by_person", "closing_date_reached"]
    responses: int
    average_rating: float | None = None
    csat: float | None = Field(default=None, description="Share of ratings 4-5, in percent")
    nps: float | None = Field(default=None, description="Net promoter score, -100 to 100")


def _plain_answer(value: Any) -> Any:
    """An answer as JSON carries it, never coerced: lax validation would turn ``true`` into the
    score 1. A number written 4.0 is the whole number 4 (JSON Schema's integer); 4.5 is refused."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "answer_type", "true or false is not an answer: send a score as a whole number, a text or a list of texts"
        )
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise PydanticCustomError("answer_whole_number", "a score is a whole number, not {number}", {"number": value})
    if isinstance(value, int | str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    raise PydanticCustomError("answer_type", "an answer is a whole number (a score), a text or a list of texts")


AnswerValue = Annotated[StrictInt | StrictStr | list[StrictStr], BeforeValidator(_plain_answer)]
"""A rating or NPS score (int), a free text or single choice (str), or several choices."""


class FeedbackResponseReceived(Payload):
    """A patron's response was accepted. Answers are keyed by question key; nothing that
    identifies the patron is carried."""

    survey_id: str
    slug: str
    response_id: str
    channel: str
    source: Literal["page", "api", "event"]
    submitted_at: datetime
    answers: dict[str, AnswerValue]


class FeedbackResponseSubmitted(Payload):
    """Inbound: another system (a chat bot on WhatsApp or Telegram) hands in a patron's response."""

    survey: str = Field(description="The survey's id or slug")
    channel: str = Field(default="other", description="whatsapp, telegram, … (unknown ones count as 'other')")
    patron_key: str | None = Field(
        default=None, max_length=200,
        description="Stable, non-identifying key chosen by the sender (say, a hash of the chat id); "
        "enforces one response per patron where the survey asks for it",
    )
    answers: dict[str, AnswerValue]
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class EventSpec:
    name: str
    """Short name and routing key, e.g. ``post.due``."""
    version: int
    model: type[Payload]
    summary: str

    @property
    def type(self) -> str:
        return f"org.siar.{self.name}.v{self.version}"

    def envelope(
        self,
        payload: Payload,
        *,
        source: str,
        correlation_id: str,
        subject: str | None = None,
        event_id: str | None = None,
    ) -> CloudEvent:
        if not isinstance(payload, self.model):
            raise TypeError(f"{self.name} carries {self.model.__name__}, not {type(payload).__name__}")
        extra = {"id": event_id} if event_id else {}
        return CloudEvent(
            source=source,
            type=self.type,
            subject=subject,
            correlationid=correlation_id,
            data=payload.model_dump(mode="json"),
            **extra,
        )

    def parse(self, event: CloudEvent) -> Payload:
        return self.model.model_validate(event.data)


EVENTS: tuple[EventSpec, ...] = (
    EventSpec("post.scheduled", 1, PostScheduled, "A post was created and scheduled."),
    EventSpec("post.updated", 1, PostUpdated, "A post that has not gone out was changed."),
    EventSpec("post.cancelled", 1, PostCancelled, "Targets of a post were cancelled."),
    EventSpec("post.due", 1, PostDue, "A target's time has come; publish it exactly once."),
    EventSpec("post.published", 1, PostPublished, "A target was published on its platform."),
    EventSpec("post.failed", 1, PostFailed, "A target could not be published, with the reason."),
    EventSpec("post.retrying", 1, PostRetrying, "A target's attempt failed and will be retried."),
    EventSpec("post.at_risk", 1, PostAtRisk, "Shortly before its time a post's media link no longer works."),
    EventSpec("account.registered", 1, AccountRegistered, "A platform account was connected."),
    EventSpec("account.updated", 1, AccountUpdated, "A platform account's status or limits changed."),
    EventSpec(
        "account.needs_reconnect",
        1,
        AccountNeedsReconnect,
        "An account's credentials were revoked; a person must connect it again.",
    ),
    EventSpec("insights.requested", 1, InsightsRequested, "The metrics service asks for a post's engagement or an account's audience."),
    EventSpec("insights.collected", 1, InsightsCollected, "A platform's answer to insights.requested, in its own metric names."),
    EventSpec("insights.failed", 1, InsightsFailed, "An insights.requested could not be answered, with the reason and when to retry."),
    EventSpec("engagement.sampled", 1, EngagementSampled, "A post's engagement at one moment, normalised, with its engagement rate."),
    EventSpec("audience.sampled", 1, AudienceSampled, "An account's followers at one moment."),
    EventSpec("survey.opened", 1, SurveyOpened, "A survey opened, with its links and where to announce it."),
    EventSpec("survey.closed", 1, SurveyClosed, "A survey closed, with its headline results."),
    EventSpec("feedback.response.received", 1, FeedbackResponseReceived, "A patron's survey response was accepted."),
    EventSpec(
        "feedback.response.submitted",
        1,
        FeedbackResponseSubmitted,
        "Inbound: another system (a chat bot) hands in a patron's survey response.",
    ),
)

_BY_TYPE = {spec.type: spec for spec in EVENTS}
_BY_MODEL = {spec.model: spec for spec in EVENTS}


def spec_for_type(event_type: str) -> EventSpec | None:
    return _BY_TYPE.get(event_type)


def spec_for_model(model: type[Payload]) -> EventSpec:
    return _BY_MODEL[model]
