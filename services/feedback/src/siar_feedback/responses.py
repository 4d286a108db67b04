"""Accepting a patron's response, whichever way it came (the page, the API, an event): the survey
must be open, the page's rate limits hold (per client, then per survey as a safety net), a page
form token brings one response however often it is sent, one response per patron where the
survey asks for it, and the response and its feedback.response.received event commit together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

import asyncpg
from siar_contracts import FeedbackResponseReceived
from siar_runtime.outbox import write_events

from . import store
from .answers import Answer, as_values
from .patrons import patron_hash
from .schemas import ResponseOut, Survey
from .surveys import SCHEMA, event

Source = Literal["page", "api", "event"]


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    NOT_OPEN = "not_open"
    RATE_LIMITED = "rate_limited"
    RESUBMITTED = "resubmitted"
    """The page form with this token already brought a response (a double click, a resent POST)."""


@dataclass(frozen=True)
class Submission:
    channel: str
    source: Source
    answers: dict[str, Answer]
    patron_key: str | None = None
    language: str | None = None
    submitted_at: datetime | None = None
    correlation_id: str | None = None
    client: bytes | None = None
    """The page's client (clients.client_hash), for its per-client rate limit."""
    form_nonce: bytes | None = None
    """The nonce of the page's form token (tokens.FormToken)."""


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    submission: Submission
    response: ResponseOut | None = field(default=None)


def accepting(survey: Survey, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return survey.status == "open" and (survey.closes_at is None or now < survey.closes_at)


async def record(
    conn: asyncpg.Connection, survey: Survey, sub: Submission, *, secret: str, client_limit: int | None = None,
) -> Result:
    """Store one response inside the caller's transaction (an event handler adds its inbox row).

    A page response counts first against its client's limit (``client_limit`` a minute), and
    only when that holds against the survey's ``rate_limit_per_minute`` (all clients together, a
    high safety net): a client over its own limit uses up nothing of the others'."""
    state = await store.lock_for_response(conn, survey.survey_id)
    now = datetime.now(UTC)
    if state is None or state["status"] != "open" or (state["closes_at"] and now >= state["closes_at"]):
        return Result(Outcome.NOT_OPEN, sub)
    if sub.source == "page":
        if (client_limit is not None and sub.client is not None
                and await store.client_rate_hit(conn, survey.survey_id, sub.client) > client_limit):
            return Result(Outcome.RATE_LIMITED, sub)
        if await store.rate_hit(conn, survey.survey_id) > state["rate_limit_per_minute"]:
            return Result(Outcome.RATE_LIMITED, sub)
    if sub.form_nonce is not None and not await store.use_form_token(conn, survey.survey_id, sub.form_nonce):
        return Result(Outcome.RESUBMITTED, sub)
    key_hash = (
        patron_hash(secret, survey.survey_id, sub.patron_key)
        if state["one_response_per_patron"] and sub.patron_key else None
    )
    response_id = uuid.uuid4()
    submitted_at = await store.insert_response(
        conn, response_id=response_id, survey_id=survey.survey_id, channel=sub.channel, source=sub.source,
        language=sub.language, patron_hash=key_hash,
        submitted_at=min(sub.submitted_at, now) if sub.submitted_at else None,
    )
    if submitted_at is None:
        return Result(Outcome.DUPLICATE, sub)
    await store.insert_answers(conn, response_id, survey.survey_id, sub.answers)
    values = as_values(survey.questions, sub.answers)
    private = {q.key for q in survey.questions if q.identifying}
    payload = FeedbackResponseReceived(
        survey_id=str(survey.survey_id),
        slug=survey.slug,
        response_id=str(response_id),
        channel=sub.channel,
        source=sub.source,
        submitted_at=submitted_at,
        answers={k: v for k, v in values.items() if k not in private},
    )
    await write_events(conn, SCHEMA, [
        event(payload, sub.correlation_id or survey.correlation_id, f"survey/{survey.survey_id}")
    ])
    return Result(Outcome.ACCEPTED, sub, ResponseOut(
        response_id=response_id, survey_id=survey.survey_id, channel=sub.channel, source=sub.source,
        submitted_at=submitted_at, answers=values,
    ))


async def submit(
    pool: asyncpg.Pool, survey: Survey, sub: Submission, *, secret: str, client_limit: int | None = None,
) -> Result:
    async with pool.acquire() as conn, conn.transaction():
        return await record(conn, survey, sub, secret=secret, client_limit=client_limit)
