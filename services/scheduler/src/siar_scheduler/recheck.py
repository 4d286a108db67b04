"""A post's media links tried once more shortly before its time.

A link that worked when the post was written can be gone by its time: the file moved, a share
link expired, the library's server is down. The publisher would then fail the post's targets at
their time, when it is too late to mend anything. So ``SIAR_MEDIA_RECHECK_MINUTES`` (60) before
its time, each post that still has targets to send and has media is tried again (the same check
as when it was written, siar_scheduler.media_links): what is found replaces the post's media link
findings (the API and ``siar posts show`` show them), goes on record in the audit log
(``post.media_rechecked``, by siar), and a link that no longer works is announced as
``post.at_risk`` — for the team's chat bot or mail — while there is still time to fix it. The
post itself is not changed or stopped: the link may work again at its time.

Each post is tried once in that window; changing its media or its time lets it be tried again.
The claim leases the posts in a short transaction (``media_recheck_lease``: long enough for the
batch's links to be asked) and the links are tried outside any transaction (a slow server holds
no row lock), each post's on its own deadline; the look marks the post tried
(``media_rechecked_at``) with what it found, if its lease is still the one it claimed. A
scheduler stopped between the claim and the look leaves the lease to run out, and the post is
claimed again (by another replica, or after the restart) while it is still ahead. A change of
the post's media or time clears the lease: the look is left to the check that change ran, and
the post is tried again in the window; any other change (its text, an approval) keeps what the
look found. A link not asked in time keeps what it had, and what is found is kept as a warning
whatever SIAR_CHECK_MEDIA_LINKS says (this look refuses nothing, and a blocking finding would
refuse moving the post to buy time)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import asyncpg
import structlog
from siar_contracts import MediaLinkFinding, PostAtRisk, spec_for_model
from siar_runtime.outbox import write_events

from . import media_links, store
from . import planning_store as plans
from .identity import SYSTEM
from .policy import Policy
from .posts import SCHEMA, SOURCE, media_findings, plans_of
from .schemas import MediaIn

log = structlog.get_logger("siar.scheduler.recheck")

BATCH = 20  # posts claimed at once (each asked on its own deadline, CONCURRENT at a time)
CONCURRENT = 4
IDLE_SECONDS = 30.0  # the longest sleep: a post written within the window waits at most this


# Posts still to be tried again: with media, targets still to send, a time still ahead (a post
# leased to a look under way among them: claim leaves it out until its lease runs out). The
# times are sub-selects so that the planner sees constants and scans only the partial index's
# range ahead (a bare clock_timestamp() is volatile and would filter every post ever written).
_WAITING = """
    p.media_rechecked_at IS NULL AND p.media <> '[]'::jsonb
    AND p.scheduled_at > (SELECT clock_timestamp())
    AND EXISTS (SELECT 1 FROM targets t WHERE t.post_id = p.post_id AND t.status = 'scheduled')
"""


def lease_seconds(policy: Policy) -> float:
    """How long a claimed batch's look may take before its posts may be claimed again: every
    post's links on their deadline, CONCURRENT posts at a time, twice over, and a margin for the
    database."""
    return policy.media_check_seconds * -(-BATCH // CONCURRENT) * 2 + 30


async def claim(conn: asyncpg.Connection, minutes: int, limit: int = BATCH,
                lease_seconds: float = 120) -> list[asyncpg.Record]:
    """Posts with media, targets still to send and their time within ``minutes``, not tried
    again yet and not leased to a look under way: leased for ``lease_seconds``, and returned
    with their media and the lease (``lease``: what the look shows to mark the post tried)."""
    return await conn.fetch(
        f"""
        WITH due AS (
            SELECT p.post_id FROM posts p
            WHERE {_WAITING} AND p.scheduled_at <= (SELECT clock_timestamp() + make_interval(mins => $1))
              AND (p.media_recheck_lease IS NULL OR p.media_recheck_lease <= (SELECT clock_timestamp()))
            ORDER BY p.scheduled_at
            LIMIT $2
            FOR UPDATE OF p SKIP LOCKED
        )
        UPDATE posts p SET media_recheck_lease = clock_timestamp() + make_interval(secs => $3)
        FROM due WHERE p.post_id = due.post_id
        RETURNING p.post_id, p.media, p.media_recheck_lease AS lease
        """,
        minutes, limit, float(lease_seconds),
    )


async def seconds_until_next(conn: asyncpg.Connection, minutes: int) -> float | None:
    """Until the next post enters the window or a lease runs out (None: none waits)."""
    return await conn.fetchval(
        f"""
        SELECT extract(epoch FROM min(greatest(p.scheduled_at - make_interval(mins => $1), p.media_recheck_lease))
                                  - clock_timestamp())::float8
        FROM posts p WHERE {_WAITING}
        """,
        minutes,
    )


async def recheck(pool: asyncpg.Pool, policy: Policy, claimed: list[asyncpg.Record]) -> list[str]:
    """Try the claimed posts' links and keep what is found; returns the ids of the posts at risk.
    Each post's links are asked on their own deadline (a batch of posts sharing one would leave
    some links unasked, or asked too late), a few posts at a time."""
    limit = asyncio.Semaphore(CONCURRENT)

    async def one(row: asyncpg.Record) -> bool:
        try:
            media = [MediaIn(**m) for m in row["media"]]
            async with limit:
                answers = await media_links.look([m.url for m in media], timeout=policy.media_check_seconds,
                                                 egress=policy.egress)
            # Stored as warnings whatever the check's mode: this look refuses nothing, and a
            # blocking finding kept on the post would refuse moving it to buy time to mend the link.
            found = [f.as_dict() for f in media_links.findings("warn", media, answers)]
            unasked = {f"media[{i}]" for i, m in enumerate(media) if m.url not in answers}
            return await _keep(pool, row["post_id"], row["lease"], found, unasked)
        except _DATABASE_AWAY:
            log.exception("media recheck of a post failed; tried again when its lease runs out",
                          post_id=str(row["post_id"]))
            return False
        except Exception:  # one post's trouble is not the others'
            log.exception("media recheck of a post failed", post_id=str(row["post_id"]))
            # Marked tried, so that a post that always fails is not tried again at each lease's end.
            with contextlib.suppress(*_DATABASE_AWAY):
                async with pool.acquire() as conn:
                    await _tried(conn, row["post_id"], row["lease"])
            return False

    results = await asyncio.gather(*(one(row) for row in claimed))
    return [str(row["post_id"]) for row, at_risk in zip(claimed, results, strict=True) if at_risk]


# The database or the network to it failing for a moment: the lease brings the post back.
_DATABASE_AWAY = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


async def _tried(conn: asyncpg.Connection, post_id: UUID, lease: datetime) -> bool:
    """Mark the post tried if it still holds the lease this look claimed; False when a change of
    its media or time cleared it (tried again in the window), or its lease ran out and another
    look claimed it."""
    return await conn.fetchval(
        "UPDATE posts SET media_rechecked_at = clock_timestamp() WHERE post_id = $1"
        " AND media_recheck_lease = $2 AND media_rechecked_at IS NULL RETURNING true",
        post_id, lease,
    ) is not None


async def _keep(pool: asyncpg.Pool, post_id: UUID, lease: datetime, found: list[dict], unasked: set[str]) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        post = await store.get_post(conn, post_id, for_update=True)
        if post is None or not await _tried(conn, post_id, lease):
            return False  # its media or time changed since the claim (that change looked), or another look took it
        pending = [t for t in post.targets if t.status == "scheduled"]
        before = media_findings(post)
        found = found + [f for f in before if f.get("field") in unasked]  # a link not asked keeps what it had
        if not pending or (not found and not before):
            return False
        if sorted(map(repr, found)) != sorted(map(repr, before)):
            others = [f.model_dump(exclude_none=True) for f in post.findings if f.check != "media_links"]
            await store.set_findings(conn, post_id, others + found)
            await plans.audit(conn, actor=SYSTEM.id, role=SYSTEM.role, action="post.media_rechecked", entity="post",
                              entity_id=post_id, details={"warnings": [f["message"] for f in found]})
        fresh = [f for f in found if f.get("field") not in unasked]
        if not fresh:
            return False
        log.warning("media link no longer works", post_id=str(post_id), scheduled_at=post.scheduled_at.isoformat(),
                    findings=[f["rule"] for f in fresh])
        event = PostAtRisk(
            post_id=str(post_id), scheduled_at=post.scheduled_at,
            targets=[p for p in plans_of(post) if p.status == "scheduled"],
            findings=[MediaLinkFinding(field=f["field"], rule=f["rule"], message=f["message"]) for f in fresh],
            reason="; ".join(f["message"] for f in fresh),
            review_state=post.review.state,
            campaign_id=str(post.campaign_id) if post.campaign_id else None,
            series_id=str(post.series_id) if post.series_id else None,
        )
        await write_events(conn, SCHEMA, [spec_for_model(PostAtRisk).envelope(
            event, source=SOURCE, correlation_id=post.correlation_id, subject=f"post/{post_id}")])
        return True


async def keep_rechecking(pool: asyncpg.Pool, policy: Policy, minutes: int, *,
                          announced: Callable[[list[str]], None], wakeup: asyncio.Event) -> None:
    """The service's loop: claim what entered the window, try it, sleep until the next post
    enters it (at most :data:`IDLE_SECONDS`, or until ``wakeup`` is set: a post was written or
    changed). ``announced``: called with the posts found at risk (the relay is woken)."""
    while True:
        wakeup.clear()
        try:
            async with pool.acquire() as conn, conn.transaction():
                claimed = await claim(conn, minutes, lease_seconds=lease_seconds(policy))
            if claimed:
                at_risk = await recheck(pool, policy, claimed)
                if at_risk:
                    announced(at_risk)
                continue
            async with pool.acquire() as conn:
                wait = await seconds_until_next(conn, minutes)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database away a moment: try again later, never stop
            log.exception("media recheck failed; trying again")
            wait = IDLE_SECONDS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), min(IDLE_SECONDS, max(0.5, wait if wait is not None else IDLE_SECONDS)))
