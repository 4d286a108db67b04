"""Survey announcements: the feedback service's survey.opened lists the accounts to post a survey's
link on, each with a ready text; the scheduler turns each into an ordinary post.

Each entry that names an account (``account_id``) becomes a post of its text to that account,
due as the survey opens (at once, or at ``opens_at`` should that still be ahead), made by
:func:`posts.create_post` — the API's own path — so the platform's rules, the library's content
checks, the review policy and the audit log apply as to any post. An entry without an account
(a poster, a website link) is only a suggestion for people and is left alone.

The survey's creator (``created_by``, who wrote its announcement text) is each post's author,
and whoever last changed the announcement (``edited_by``) its editor, so under review neither
can approve it (review.own_work); an older event without them makes the scheduler the author.

Under ``SIAR_REVIEW_REQUIRED`` the scheduler approves nothing on its own, as with the occurrences
of a series, which go out only once a reviewer approved their series: an announcement waits in
review, due ``SIAR_SURVEY_REVIEW_MINUTES`` after the survey opened (due at once, it would fail
not_approved before anyone could look at it). Approved by then, it goes out then; a reviewer who
wants it out sooner approves it and moves its time (PATCH scheduled_at).

Each post's idempotency key is the event's source and id with the account, so a repeated
survey.opened (a redelivery, a replay from the dead letters) makes no post twice, on top of the
inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import structlog
from pydantic import ValidationError
from siar_contracts import CloudEvent, SurveyAnnouncement, SurveyOpened
from siar_runtime.consumer import Rejected
from siar_runtime.inbox import first_delivery
from siar_runtime.problems import Problem

from . import planning_store as plans
from .identity import SYSTEM
from .policy import Policy
from .posts import create_post
from .schemas import PostCreate

log = structlog.get_logger("siar.scheduler.announcements")

REFUSED = "announcement_refused"
"""The dead-letter reason of a survey.opened with an entry that could not become a post."""


def idempotency_key(event: CloudEvent, account_id: str) -> str:
    return f"survey.opened {event.source} {event.id} {account_id}"


def due_at(data: SurveyOpened, policy: Policy, now: datetime) -> datetime:
    """When the announcements go out. survey.opened is emitted as the survey opens, so its
    ``opens_at`` (the moment it opened) is now or just past; a later one is honoured all the same."""
    at = max(now, data.opens_at)
    if policy.review_required:
        at += timedelta(minutes=policy.survey_review_minutes)
    return at


async def _seen(pool: asyncpg.Pool, event: CloudEvent) -> bool:
    async with pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT 1 FROM inbox WHERE source = $1 AND event_id = $2",
                                        event.source, event.id))


def _why(exc: Exception) -> str:
    if isinstance(exc, Problem):
        return f"{exc.title}: {exc.detail}" if exc.detail else exc.title
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


async def on_survey_opened(event: CloudEvent, data: SurveyOpened, pool: asyncpg.Pool, policy: Policy) -> None:
    """Schedule a post for each announcement entry that names an account.

    An entry that cannot become a post (an account the scheduler does not know or that needs
    reconnecting, a text its platform or the library's checks refuse) does not hold back the
    others, and is not dropped either. The others are scheduled at once — a survey's
    announcement is worth most as it opens, and one bad entry out of three should not silence
    the other two. Then the whole event is refused (:class:`Rejected`, reason
    ``announcement_refused``): it lands in ``siar.scheduler.dead`` with each refused entry and
    why, which is how Siar shows every other bad event, and it is not retried in a loop (the
    broker would only refuse it again). The refusal is in the audit log too (``survey`` entity,
    ``survey.announcement_refused``), where the team sees it beside its posts. Once the cause is
    fixed (the account connected, the text shortened), replaying the dead letter makes the posts
    that are still missing and nothing twice: the inbox records the event only when every entry
    became a post, and each post has its own idempotency key.

    Were the event acknowledged with a log line only, the refused announcement would be lost for
    good (no replay); were it refused whole before making any post, one bad entry would hold
    back the good ones until an operator acted."""
    if await _seen(pool, event):
        return
    now = datetime.now(UTC)
    if data.closes_at is not None and data.closes_at <= now:
        # A late replay: the survey has closed, and a link to it would only disappoint.
        log.warning("survey closed before its announcements could go out; none made",
                    survey_id=data.survey_id, closes_at=data.closes_at.isoformat())
        async with pool.acquire() as conn, conn.transaction():
            await first_delivery(conn, event)
        return
    at = due_at(data, policy, now)
    made: list[str] = []
    refused: list[tuple[SurveyAnnouncement, str]] = []
    for entry in data.announce:
        if not entry.account_id:
            continue  # a channel with no account (a poster): a suggestion for people, not a post
        origin = {"made_by": "survey", "survey_id": data.survey_id, "survey_slug": data.slug,
                  "channel": entry.channel, "event_id": event.id,
                  **({"written_by": data.created_by} if data.created_by else {}),
                  **({"edited_by": data.edited_by} if data.edited_by else {})}
        try:
            req = PostCreate(text=entry.text, targets=[entry.account_id], scheduled_at=at)
            post, _ = await create_post(pool, req, actor=SYSTEM, idempotency_key=idempotency_key(event, entry.account_id),
                                        policy=policy, audit_details=origin, author=data.created_by,
                                        editor=data.edited_by)
        except (Problem, ValidationError) as exc:
            refused.append((entry, _why(exc)))
            continue
        made.append(str(post.post_id))
    async with pool.acquire() as conn, conn.transaction():
        if not refused:
            await first_delivery(conn, event)
        for entry, why in refused:
            await plans.audit(conn, actor=SYSTEM.id, role=SYSTEM.role, action="survey.announcement_refused",
                              entity="survey", entity_id=data.survey_id,
                              details={"account_id": entry.account_id, "platform": entry.platform,
                                       "channel": entry.channel, "reason": why, "event_id": event.id,
                                       "survey_slug": data.slug, "text": entry.text})
    if made:
        log.info("survey announcements scheduled", survey_id=data.survey_id, posts=made, due_at=at.isoformat())
    if refused:
        for entry, why in refused:
            log.warning("survey announcement refused", survey_id=data.survey_id, account_id=entry.account_id,
                        platform=entry.platform, reason=why)
        raise Rejected(REFUSED, (
            f"survey {data.slug!r}: {len(refused)} of {len(refused) + len(made)} announcements could not become "
            "a post: " + "; ".join(f"{e.platform} account {e.account_id}: {why}" for e, why in refused)
            + (f". The other {len(made)} are scheduled (posts {', '.join(made)})" if made else "")
            + ". Replay this message once fixed: only the missing posts are made."
        ))
