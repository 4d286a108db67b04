"""The feedback service's HTTP request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from siar_contracts import AnswerValue

from .channels import Channel

Language = Literal["id", "en"]
QuestionKind = Literal["rating", "nps", "single_choice", "multiple_choice", "text"]
SurveyStatus = Literal["draft", "scheduled", "open", "closed"]

KEY = r"^[a-z0-9][a-z0-9_]{0,39}$"
SLUG = r"^[a-z0-9][a-z0-9-]{2,62}$"
CHOICE_KINDS = ("single_choice", "multiple_choice")
TEXT_MAX = 2000
"""Longest free-text answer, in characters."""
TIMEZONE_MAX = 64
"""Longest time zone name accepted (the longest IANA name has 32 characters)."""


def _text(max_length: int):
    return Field(min_length=1, max_length=max_length)


class Localized(BaseModel):
    """A text in Indonesian (required) and English (optional: the Indonesian is shown instead)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=2000, examples=["Seberapa puas Anda dengan layanan kami?"])
    en: str | None = Field(default=None, max_length=2000, examples=["How satisfied are you with our service?"])

    @field_validator("id", "en")
    @classmethod
    def _stripped(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    def get(self, lang: str) -> str:
        return (self.en if lang == "en" else None) or self.id


class OptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY, examples=["novel"])
    label: Localized


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY, description="Stable name of the question in results and exports", examples=["kepuasan"])
    kind: QuestionKind = Field(
        description="rating (1-5), nps (0-10), single_choice, multiple_choice or text"
    )
    text: Localized
    help: Localized | None = Field(default=None, description="A hint shown under the question")
    required: bool = False
    options: list[OptionIn] = Field(default_factory=list, max_length=30, description="Choices (choice kinds only)")
    identifying: bool = Field(
        default=False,
        description="The question asks for something that identifies the patron (a name, an e-mail "
        "address); only free-text questions may, the page says so, and events never carry the answer",
    )

    @model_validator(mode="after")
    def _consistent(self) -> QuestionIn:
        if self.kind in CHOICE_KINDS:
            if len(self.options) < 2:
                raise ValueError(f"a {self.kind} question needs at least two options")
            keys = [o.key for o in self.options]
            if len(set(keys)) != len(keys):
                raise ValueError("option keys must be distinct")
        elif self.options:
            raise ValueError(f"a {self.kind} question has no options")
        if self.identifying and self.kind != "text":
            raise ValueError("only a free-text question may ask for identifying information")
        return self



class AnnounceTarget(BaseModel):
    """An account to announce the survey on when it opens (through the scheduler)."""

    model_config = ConfigDict(extra="forbid")

    platform: str = Field(pattern=r"^[a-z0-9_]{1,32}$", examples=["telegram"])
    account_id: str | None = Field(default=None, max_length=200, description="The scheduler's account id")
    channel: Channel | None = Field(
        default=None, description="Whose link to post; the platform's own channel when not given"
    )


class SurveyFields(BaseModel):
    """What a survey definition holds, shared by create and update."""

    model_config = ConfigDict(extra="forbid")

    intro: Localized | None = Field(default=None, description="Shown above the questions")
    thank_you: Localized | None = Field(default=None, description="Shown after a response")
    opens_at: datetime | None = Field(
        default=None, description="With an offset, or local time in `timezone`; open at once when not given"
    )
    closes_at: datetime | None = Field(default=None, description="With an offset, or local time in `timezone`")
    timezone: str = Field(
        default="Asia/Jakarta", min_length=1, max_length=TIMEZONE_MAX,
        description="IANA time zone for dates given without offset",
    )
    channels: list[Channel] = Field(
        default_factory=list, max_length=20,
        description="One link each (…/s/{slug}?ch=instagram); results count responses per channel",
    )
    one_response_per_patron: bool = Field(
        default=False,
        description="One response per patron: a signed cookie on the page, the caller's patron_key elsewhere",
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=1, le=100_000,
        description="Responses accepted through the public page per minute from every patron together: a safety "
                    "net kept high, since each client address has its own, lower limit "
                    "(SIAR_SURVEY_CLIENT_LIMIT_PER_MINUTE) and one client over it uses up nothing of this one",
    )
    announce: list[AnnounceTarget] = Field(default_factory=list, max_length=20)
    announce_text: Localized | None = Field(
        default=None, description="The announcement's text; the link is added at its end"
    )
    announce_language: Language = "id"

    @field_validator("channels")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return _distinct_channels(value)


def _distinct_channels(channels: list[str]) -> list[str]:
    if len(set(channels)) != len(channels):
        raise ValueError("each channel may be named once")
    return channels


def _check_questions(questions: list[QuestionIn]) -> list[QuestionIn]:
    keys = [q.key for q in questions]
    if len(set(keys)) != len(keys):
        raise ValueError("question keys must be distinct")
    return questions


class SurveyCreate(SurveyFields):
    slug: str | None = Field(
        default=None, pattern=SLUG,
        description="The public page is /s/{slug}; made from the title when not given",
        examples=["kepuasan-pemustaka-2026"],
    )
    title: Localized
    questions: list[QuestionIn] = Field(min_length=1, max_length=50)

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[QuestionIn]) -> list[QuestionIn]:
        return _check_questions(value)


class SurveyUpdate(BaseModel):
    """Only the fields given change. Questions change only while the survey is a draft; a closed
    survey changes only its dates (opens_at, closes_at, timezone)."""

    model_config = ConfigDict(extra="forbid")

    title: Localized | None = None
    intro: Localized | None = None
    thank_you: Localized | None = None
    questions: list[QuestionIn] | None = Field(default=None, min_length=1, max_length=50)
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    timezone: str | None = Field(default=None, min_length=1, max_length=TIMEZONE_MAX)
    channels: list[Channel] | None = Field(default=None, max_length=20)
    one_response_per_patron: bool | None = None
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    announce: list[AnnounceTarget] | None = Field(default=None, max_length=20)
    announce_text: Localized | None = None
    announce_language: Language | None = None

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[QuestionIn] | None) -> list[QuestionIn] | None:
        return value if value is None else _check_questions(value)

    @field_validator("channels")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        return value if value is None else _distinct_channels(value)


class OpenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    announce: list[AnnounceTarget] | None = Field(
        default=None, max_length=20, description="Replaces the survey's announce list for this opening"
    )


class SurveyLinkOut(BaseModel):
    channel: str
    url: str


class Survey(BaseModel):
    survey_id: UUID
    slug: str
    status: SurveyStatus
    title: Localized
    intro: Localized | None
    thank_you: Localized | None
    questions: list[QuestionIn]
    opens_at: datetime | None
    closes_at: datetime | None
    timezone: str
    channels: list[str]
    one_response_per_patron: bool
    rate_limit_per_minute: int
    announce: list[AnnounceTarget]
    announce_text: Localized | None
    announce_language: Language
    correlation_id: str
    version: int
    created_at: datetime
    updated_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    responses: int = 0
    links: list[SurveyLinkOut] = Field(default_factory=list, description="The public link, and one per channel")

    def question(self, key: str) -> QuestionIn | None:
        return next((q for q in self.questions if q.key == key), None)


class SurveyList(BaseModel):
    surveys: list[Survey]


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(default=None, max_length=40, description="Unknown channels count as 'other'")
    patron_key: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="A stable key for the patron chosen by the caller (never stored as given); "
        "required where the survey allows one response per patron",
    )
    answers: dict[str, AnswerValue] = Field(
        max_length=100, examples=[{"kepuasan": 5, "rekomendasi": 9, "saran": "Tambah buku anak"}],
        description="Per question key: a score as a whole number, a text, or a list of option keys; "
        "taken as sent, never coerced (true, false and 4.5 are refused; 4.0 is 4)",
    )


class ResponseOut(BaseModel):
    response_id: UUID
    survey_id: UUID
    channel: str
    source: Literal["page", "api", "event"]
    submitted_at: datetime
    answers: dict[str, AnswerValue]


class Breakdown(BaseModel):
    answered: int
    counts: dict[str, int] = Field(default_factory=dict, description="Answers per score or option key")
    average: float | None = None
    csat: float | None = Field(default=None, description="Percent of ratings that are 4 or 5")
    nps: float | None = Field(default=None, description="Percent promoters (9-10) minus percent detractors (0-6)")


class QuestionResult(BaseModel):
    key: str
    kind: QuestionKind
    text: Localized
    answered: int
    skipped: int
    counts: dict[str, int] = Field(default_factory=dict, description="Answers per score or option key")
    average: float | None = None
    csat: float | None = Field(default=None, description="Percent of ratings that are 4 or 5")
    nps: float | None = Field(default=None, description="Percent promoters (9-10) minus percent detractors (0-6)")
    by_channel: dict[str, Breakdown] = Field(default_factory=dict)


class Results(BaseModel):
    survey_id: UUID
    slug: str
    status: SurveyStatus
    responses: int
    by_channel: dict[str, int] = Field(description="Responses per channel")
    average_rating: float | None = Field(description="Mean of every rating answer (1-5)")
    csat: float | None = Field(description="Percent of every rating answer that is 4 or 5")
    nps: float | None = Field(description="Net promoter score over every NPS answer (-100 to 100)")
    questions: list[QuestionResult]
