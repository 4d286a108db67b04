"""Event handlers: plain async functions of (event, payload, dependencies)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

import asyncpg
from siar_contracts import (
    CloudEvent,
    ErrorClass,
    InsightsRequested,
    PostCancelled,
    PostDue,
    spec_for_model,
)
from siar_runtime.batches import BatchHandler
from siar_runtime.consumer import Handler
from siar_runtime.inbox import first_deliveries, first_delivery
from siar_runtime.outbox import write_events

from . import store
from .delivery import SCHEMA, failed_event, held_event
from .insights import InsightsReader, on_insights_requested

ACCOUNT_GONE = "the account is no longer connected to Siar"


def _delivery(event: CloudEvent, data: PostDue) -> dict:
    return {
        "target_id": data.target_id, "post_id": data.post_id, "account_id": data.account_id,
        "platform": data.platform, "correlation_id": event.correlationid, "due_at": data.due_at,
        "text": data.text, "media": [m.model_dump(mode="json", exclude_none=True) for m in data.media],
        "title": data.title,
    }


async def on_due(event: CloudEvent, data: PostDue, pool: asyncpg.Pool, wake: Callable[[], None]) -> None:
    """Record the delivery (once per target, whatever the redeliveries) and wake the worker."""
    async with pool.acquire() as conn, conn.transaction():
        if not await first_delivery(conn, event):
            return
        row = _delivery(event, data)
        if not await store.insert_delivery(conn, **row):
            return
        known = await store.known_accounts(conn, [data.account_id])
        if data.account_id not in known:
            await store.fail_unclaimed(conn, data.target_id, ErrorClass.TARGET_GONE.value, ACCOUNT_GONE)
            await write_events(conn, SCHEMA, [failed_event(row, ErrorClass.TARGET_GONE, ACCOUNT_GONE, None, 0)])
        await _say_held(conn, known)
    wake()


async def _say_held(conn: asyncpg.Connection, accounts: dict[str, tuple[datetime, str] | None]) -> None:
    """New deliveries for an account paused now (a platform's 429 a moment ago) wait for it: they
    say so (post.retrying), rather than sit 'due' at the scheduler without a word. ``accounts``:
    :func:`store.known_accounts` of theirs."""
    held = []
    for account_id, pause in accounts.items():
        if pause is not None:
            until, why = pause
            for h in await store.hold_pending(conn, account_id, until, ErrorClass.RATE_LIMITED.value, why):
                held.append(held_event(h, ErrorClass.RATE_LIMITED, why))
    await write_events(conn, SCHEMA, held)


async def on_due_batch(items: Sequence[tuple[CloudEvent, PostDue]], pool: asyncpg.Pool,
                       wake: Callable[[], None]) -> None:
    """:func:`on_due` for many messages in one transaction: the inbox, the delivery records and
    the failures of targets whose account is gone, each one statement for the whole batch."""
    async with pool.acquire() as conn, conn.transaction():
        first = await first_deliveries(conn, [event for event, _ in items])
        if not first:
            return
        fresh = {(event.source, event.id) for event in first}
        rows = [_delivery(event, data) for event, data in items if (event.source, event.id) in fresh]
        created = {r["target_id"] for r in await store.insert_deliveries(conn, rows)}
        if not created:
            return
        rows = [r for r in rows if r["target_id"] in created]
        known = await store.known_accounts(conn, sorted({r["account_id"] for r in rows}))
        gone = [r for r in rows if r["account_id"] not in known]
        if gone:
            await store.fail_unclaimed_many(conn, [r["target_id"] for r in gone], ErrorClass.TARGET_GONE.value,
                                            ACCOUNT_GONE)
            await write_events(conn, SCHEMA, [failed_event(r, ErrorClass.TARGET_GONE, ACCOUNT_GONE, None, 0)
                                              for r in gone])
        await _say_held(conn, known)
    wake()


async def on_cancelled(event: CloudEvent, data: PostCancelled, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if await first_delivery(conn, event):
            await store.cancel(conn, data.target_ids, data.reason)


def batch_handlers(pool: asyncpg.Pool, wake: Callable[[], None]) -> dict[str, BatchHandler]:
    """The event types handled many at a time (a burst of post.due); :func:`handlers` keeps
    their single handlers for a batch that fails."""
    return {spec_for_model(PostDue).type: partial(on_due_batch, pool=pool, wake=wake)}


def handlers(pool: asyncpg.Pool, wake: Callable[[], None], insights: InsightsReader | None = None) -> dict[str, Handler]:
    """The publisher's own queue. It answers an insights request too: one routed there before
    requests had their own queue (siar_contracts.RETIRED_BINDINGS) is still answered, not dropped."""
    table = {
        spec_for_model(PostDue).type: partial(on_due, pool=pool, wake=wake),
        spec_for_model(PostCancelled).type: partial(on_cancelled, pool=pool),
    }
    if insights is not None:
        table.update(insights_handlers(pool, insights))
    return table


INSIGHTS_QUEUE = "publisher-insights"


def insights_handlers(pool: asyncpg.Pool, insights: InsightsReader) -> dict[str, Handler]:
    """The queue of insights requests (INSIGHTS_QUEUE), read apart from post.due."""
    return {spec_for_model(InsightsRequested).type: partial(on_insights_requested, pool=pool, reader=insights)}
