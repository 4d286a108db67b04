"""When to read what: a decaying schedule per published post, a daily reading per account, and
the claim that turns due readings into insights.requested for the publisher.

Collections are due rows (siar_runtime.due.DueRunner), claimed in batches with
``FOR UPDATE SKIP LOCKED`` so replicas never request one twice at once. A requested reading
stays due: if no answer has come ``answer_timeout`` later it is asked again, with the same
request id, until ``max_attempts``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog
from siar_contracts import CloudEvent, InsightsRequested, spec_for_model
from siar_runtime.outbox import write_events

from . import store
from .ids import uuid7
from .vocabulary import has_post_insights

SOURCE = "/siar/metrics"
SCHEMA = "metrics"
log = structlog.get_logger("siar.metrics.collections")


def event(model, correlation_id: str, subject: str) -> CloudEvent:
    return spec_for_model(type(model)).envelope(model, source=SOURCE, correlation_id=correlation_id, subject=subject)


async def plan_post(conn: asyncpg.Connection, *, target_id: str, post_id: str, account_id: str, platform: str,
                    platform_post_id: str, published_at: datetime, correlation_id: str,
                    steps: Sequence[tuple[str, timedelta]]) -> int:
    """One reading per step after publication (none on a platform that reports nothing)."""
    if not has_post_insights(platform):
        return 0
    now = datetime.now(UTC).timestamp()
    await store.plan_post(conn, [
        (uuid7(now), label, target_id, post_id, account_id, platform, platform_post_id, published_at,
         correlation_id, published_at + offset)
        for label, offset in steps
    ])
    return len(steps)


async def plan_audience(conn: asyncpg.Connection, account_id: str, platform: str, at: datetime | None = None) -> None:
    """The account's next audience reading (now, unless said), unless one is already planned."""
    await store.plan_audience(conn, [(uuid7(), account_id, platform, at or datetime.now(UTC))])


class Requester:
    """The DueRunner's claim: due readings become insights.requested in the outbox."""

    def __init__(self, *, answer_timeout: timedelta, max_attempts: int, audience_interval: timedelta,
                 in_flight: int = 1_000_000) -> None:
        self.answer_timeout = answer_timeout
        self.max_attempts = max_attempts
        self.audience_interval = audience_interval
        self.in_flight = in_flight

    async def claim(self, conn: asyncpg.Connection, limit: int) -> list[tuple[asyncpg.Record, str]]:
        """Returns every claimed row with what became of it: ``requested`` or ``unanswered``
        (given up after ``max_attempts`` requests without an answer)."""
        # At most ``in_flight`` requests wait for an answer at once (per replica's view), so the
        # publisher's queue, which post.due shares, never fills with a backlog of reads.
        room = self.in_flight - await store.outstanding(conn)
        if room <= 0:
            return []
        rows = await store.claim_due(conn, min(limit, room), self.answer_timeout)
        if not rows:
            return []
        exhausted = [r for r in rows if r["attempts"] > self.max_attempts]
        if exhausted:
            reason = f"no answer to {self.max_attempts} requests; is the publisher running?"
            await store.give_up(conn, [r["request_id"] for r in exhausted], reason)
            for platform, n in Counter(r["platform"] for r in exhausted).items():
                log.warning("collection failed", platform=platform, readings=n, reason=reason)
        ask = [r for r in rows if r["attempts"] <= self.max_attempts]
        # An account's next daily reading is planned when this one is first asked, so the chain
        # never breaks on a failure; a disconnected account's chain pauses until it is back.
        first = [r for r in ask if r["kind"] == "account" and r["previous_state"] == "planned"]
        if first:
            active = await store.active_accounts(conn, [r["account_id"] for r in first])
            now = datetime.now(UTC)
            await store.plan_audience(conn, [
                (uuid7(), r["account_id"], r["platform"],
                 max(r["planned_at"] + self.audience_interval, now + self.audience_interval / 2))
                for r in first if r["account_id"] in active
            ])
        now = datetime.now(UTC)
        await write_events(conn, SCHEMA, [self._request(r, now) for r in ask])
        return [(r, "requested") for r in ask] + [(r, "unanswered") for r in exhausted]

    def _request(self, row: asyncpg.Record, now: datetime) -> CloudEvent:
        request_id = str(row["request_id"])
        payload = InsightsRequested(
            request_id=request_id, kind=row["kind"], account_id=row["account_id"], platform=row["platform"],
            platform_post_id=row["platform_post_id"], post_id=row["post_id"], target_id=row["target_id"],
            campaign_id=row["campaign_id"], attempt=row["attempts"], requested_at=now,
        )
        subject = f"target/{row['target_id']}" if row["kind"] == "post" else f"account/{row['account_id']}"
        return event(payload, row["correlation_id"], subject)
