"""Event handlers: responses handed in by other systems (a chat bot), idempotent on the event id.

A response that can never be stored as sent (no such survey, answers that do not fit its
questions, no patron key where the survey needs one) goes to the dead letters with the reason: the
sender has a bug to fix. A patron answering twice or after the survey closed is ordinary and is
acknowledged, counted and logged."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import asyncpg
import structlog
from siar_contracts import CloudEvent, FeedbackResponseSubmitted, spec_for_model
from siar_runtime.consumer import Handler, Rejected
from siar_runtime.inbox import first_delivery

from . import answers, channels, responses, store
from .i18n import API_MESSAGES
from .metrics import FeedbackMetrics
from .surveys import survey_ref

log = structlog.get_logger("siar.feedback")


async def on_response_submitted(
    event: CloudEvent,
    data: FeedbackResponseSubmitted,
    *,
    pool: asyncpg.Pool,
    secret: str,
    metrics: FeedbackMetrics,
    wake: Callable[[], None],
) -> None:
    async with pool.acquire() as conn:
        survey = await store.get_survey(conn, survey_ref(data.survey), count=False)
    if survey is None:
        raise Rejected("unknown_survey", f"no survey {data.survey!r}")
    found, errors = answers.check(survey.questions, data.answers)
    if errors:
        metrics.refuse("invalid", "event")
        raise Rejected("invalid_answers", "; ".join(
            f"answers.{key}: {API_MESSAGES.get(code, code)}" for key, code in sorted(errors.items())
        ))
    if data.submitted_at is not None and data.submitted_at.tzinfo is None:
        raise Rejected("invalid_payload", "submitted_at needs a UTC offset (2026-12-01T09:00:00+07:00)")
    if survey.one_response_per_patron and not data.patron_key:
        metrics.refuse("invalid", "event")
        raise Rejected("patron_key_required", f"survey {survey.slug!r} takes one response per patron: send a patron_key")
    sub = responses.Submission(
        channel=channels.clamp(data.channel), source="event", answers=found, patron_key=data.patron_key,
        submitted_at=data.submitted_at, correlation_id=event.correlationid,
    )
    async with pool.acquire() as conn, conn.transaction():
        if not await first_delivery(conn, event):
            return
        result = await responses.record(conn, survey, sub, secret=secret)
        if result.outcome is responses.Outcome.NOT_OPEN:
            # Rolled back with the inbox row: the letter can be replayed once the survey is open
            # again, instead of being acknowledged, dropped and its id used up.
            metrics.observe(result)
            raise Rejected("survey_not_open", f"survey {survey.slug!r} is {survey.status}, not taking responses;"
                                              " replay this letter once it is open again")
    metrics.observe(result)
    if result.outcome is responses.Outcome.ACCEPTED:
        wake()
    else:
        log.info("response not stored", outcome=result.outcome.value, survey=survey.slug)


def handlers(
    pool: asyncpg.Pool, *, secret: str, metrics: FeedbackMetrics, wake: Callable[[], None]
) -> dict[str, Handler]:
    table = {FeedbackResponseSubmitted: on_response_submitted}
    return {
        spec_for_model(model).type: partial(fn, pool=pool, secret=secret, metrics=metrics, wake=wake)
        for model, fn in table.items()
    }
