"""Event handlers: plain async functions of (event, payload, pool), idempotent on the event id."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from uuid import UUID

import asyncpg
from siar_contracts import (
    AccountNeedsReconnect,
    AccountRegistered,
    CloudEvent,
    PostFailed,
    PostPublished,
    PostRetrying,
    SurveyOpened,
    spec_for_model,
)
from siar_runtime.batches import BatchHandler
from siar_runtime.consumer import Handler
from siar_runtime.inbox import first_deliveries, first_delivery

from . import accounts, store
from .announcements import on_survey_opened
from .policy import Policy
from .posts import SOURCE


async def on_published(event: CloudEvent, data: PostPublished, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if await first_delivery(conn, event):
            await store.mark_published(
                conn, UUID(data.target_id), data.platform_post_id, data.url, data.published_at, data.attempts,
                data.notice,
            )


async def on_published_batch(items: Sequence[tuple[CloudEvent, PostPublished]], pool: asyncpg.Pool) -> None:
    """:func:`on_published` for many messages in one transaction (a burst being published)."""
    async with pool.acquire() as conn, conn.transaction():
        fresh = {(e.source, e.id) for e in await first_deliveries(conn, [event for event, _ in items])}
        published = [
            (UUID(data.target_id), data.platform_post_id, data.url, data.published_at, data.attempts, data.notice)
            for event, data in items if (event.source, event.id) in fresh
        ]
        if published:
            await store.mark_published_many(conn, published)


async def on_failed(event: CloudEvent, data: PostFailed, pool: asyncpg.Pool) -> None:
    if event.source == SOURCE:
        return  # the scheduler's own post.failed (not approved by its time): recorded when it was written
    async with pool.acquire() as conn, conn.transaction():
        if await first_delivery(conn, event):
            await store.mark_failed(conn, UUID(data.target_id), data.error_class, data.reason, data.attempts)


async def on_retrying(event: CloudEvent, data: PostRetrying, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if await first_delivery(conn, event):
            await store.mark_retrying(conn, UUID(data.target_id), data.error_class, data.reason, data.attempt)


async def on_account(event: CloudEvent, data: AccountRegistered, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if await first_delivery(conn, event):
            await accounts.upsert(conn, data)


async def on_needs_reconnect(event: CloudEvent, data: AccountNeedsReconnect, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if await first_delivery(conn, event):
            await accounts.needs_reconnect(conn, data)


def batch_handlers(pool: asyncpg.Pool) -> dict[str, BatchHandler]:
    """The event types handled many at a time; :func:`handlers` keeps their single handlers for a
    batch that fails."""
    return {spec_for_model(PostPublished).type: partial(on_published_batch, pool=pool)}


def handlers(pool: asyncpg.Pool, policy: Policy | None = None) -> dict[str, Handler]:
    """``policy``: the library's (review, checks), which the posts made from survey announcements follow."""
    from siar_contracts import AccountUpdated

    table = {
        PostPublished: on_published,
        PostFailed: on_failed,
        PostRetrying: on_retrying,
        AccountRegistered: on_account,
        AccountUpdated: on_account,
        AccountNeedsReconnect: on_needs_reconnect,
    }
    found = {spec_for_model(model).type: partial(fn, pool=pool) for model, fn in table.items()}
    found[spec_for_model(SurveyOpened).type] = partial(on_survey_opened, pool=pool, policy=policy or Policy())
    return found
