"""Event handlers: plain async functions of (event, payload, dependencies)."""

from __future__ import annotations

from collections.abc import Callable
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
from siar_runtime.consumer import Handler
from siar_runtime.inbox import first_delivery
from siar_runtime.outbox import write_events

from . import store
from .delivery import SCHEMA, failed_event
from .insights import InsightsReader, on_insights_requested


async def on_due(event: CloudEvent, data: PostDue, pool: asyncpg.Pool, wake: Callable[[], None]) -> None:
    """Record the delivery (once per target, whatever the redeliveries) and wake the worker."""
    async with pool.acquire() as conn, conn.transaction():
        if not await first_delivery(conn, event):
            return
        row = {
            "target_id": data.target_id, "post_id": data.post_id, "account_id": data.account_id,
            "platform": data.platform, "correlation_id": event.correlationid, "due_at": data.due_at,
            "text": data.text, "media": [m.model_dump(mode="json", exclude_none=True) for m in data.media],
            "title": data.title,
        }
        if not await store.insert_delivery(conn, **row):
            return
        account = await store.account_status(conn, data.account_id)
        if account is None:
            reason = "the account is no longer connected to Siar"
            await store.fail_unclaimed(conn, data.target_id, ErrorClass.TARGET_GONE.value, reason)
            await write_events(conn, SCHEMA, [failed_event(row, ErrorClass.TARGET_GONE, reason, None, 0)])
    wake()


async def on_cancelled(event: CloudEvent, data: PostCancelled, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if await first_delivery(conn, event):
            await store.cancel(conn, data.target_ids, data.reason)


def handlers(pool: asyncpg.Pool, wake: Callable[[], None], insights: InsightsReader | None = None) -> dict[str, Handler]:
    table = {
        spec_for_model(PostDue).type: partial(on_due, pool=pool, wake=wake),
        spec_for_model(PostCancelled).type: partial(on_cancelled, pool=pool),
    }
    if insights is not None:
        table[spec_for_model(InsightsRequested).type] = partial(on_insights_requested, pool=pool, reader=insights)
    return table
