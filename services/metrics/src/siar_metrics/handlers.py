"""Event handlers: plain async functions of (event, payload, dependencies), idempotent on the
event id. Answers from the publisher go through a :class:`~siar_runtime.batches.Batcher` so they
are stored in batches; an answer whose batch failed is stored on its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import asyncpg
from siar_contracts import (
    AccountNeedsReconnect,
    AccountRegistered,
    AccountUpdated,
    CloudEvent,
    InsightsCollected,
    InsightsFailed,
    PostPublished,
    PostScheduled,
    PostUpdated,
    spec_for_model,
)
from siar_platforms import extract_hashtags
from siar_runtime.batches import Batcher
from siar_runtime.consumer import Handler
from siar_runtime.inbox import first_delivery

from . import collections, store
from .ingest import Answer


def hashtags(text: str, campaign: list[str]) -> list[str]:
    """The post's hashtags as written, then the campaign's, each once (compared without case)."""
    seen: dict[str, str] = {}
    for tag in [*extract_hashtags(text), *(t.lstrip("#") for t in campaign)]:
        seen.setdefault(tag.casefold(), tag)
    return list(seen.values())


async def on_post(event: CloudEvent, data: PostScheduled | PostUpdated, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if await first_delivery(conn, event):
            await store.upsert_post(conn, data.post_id, data.text, hashtags(data.text, data.campaign_hashtags),
                                    data.campaign_id, [t.lstrip("#") for t in data.campaign_hashtags],
                                    data.scheduled_at)


async def on_published(event: CloudEvent, data: PostPublished, pool: asyncpg.Pool, settings, wake: Callable[[], None]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if not await first_delivery(conn, event):
            return
        new = await store.insert_target(
            conn, target_id=data.target_id, post_id=data.post_id, account_id=data.account_id, platform=data.platform,
            platform_post_id=data.platform_post_id, url=data.url, published_at=data.published_at,
            correlation_id=event.correlationid,
        )
        if new and await store.gives_insights(conn, data.account_id):
            await collections.plan_post(
                conn, target_id=data.target_id, post_id=data.post_id, account_id=data.account_id,
                platform=data.platform, platform_post_id=data.platform_post_id, published_at=data.published_at,
                correlation_id=event.correlationid, steps=settings.steps,
            )
    wake()


async def on_account(event: CloudEvent, data: AccountRegistered, pool: asyncpg.Pool, wake: Callable[[], None]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if not await first_delivery(conn, event):
            return
        await store.upsert_account(conn, data.account_id, data.platform, data.handle, data.display_name, data.status,
                                   data.insights)
        if data.status == "active" and data.insights:
            await collections.plan_audience(conn, data.account_id, data.platform)
    wake()


async def on_needs_reconnect(event: CloudEvent, data: AccountNeedsReconnect, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if await first_delivery(conn, event):
            await store.upsert_account(conn, data.account_id, data.platform, None, None, "needs_reconnect")


StoreAnswers = Callable[[Sequence[Answer]], Awaitable[None]]


async def on_answer(event: CloudEvent, data: InsightsCollected | InsightsFailed, batcher: Batcher[Answer],
                    store_answers: StoreAnswers) -> None:
    """Stored with the answers that arrive with it; when that batch fails, alone — so one answer
    the database refuses goes back to the queue (and in the end to the dead letters) by itself."""
    answer = Answer(event, data)
    if not await batcher.submit(answer):
        await store_answers([answer])


def handlers(pool: asyncpg.Pool, settings, batcher: Batcher[Answer], store_answers: StoreAnswers,
             wake: Callable[[], None]) -> dict[str, Handler]:
    table = {
        PostScheduled: partial(on_post, pool=pool),
        PostUpdated: partial(on_post, pool=pool),
        PostPublished: partial(on_published, pool=pool, settings=settings, wake=wake),
        AccountRegistered: partial(on_account, pool=pool, wake=wake),
        AccountUpdated: partial(on_account, pool=pool, wake=wake),
        AccountNeedsReconnect: partial(on_needs_reconnect, pool=pool),
        InsightsCollected: partial(on_answer, batcher=batcher, store_answers=store_answers),
        InsightsFailed: partial(on_answer, batcher=batcher, store_answers=store_answers),
    }
    return {spec_for_model(model).type: fn for model, fn in table.items()}
