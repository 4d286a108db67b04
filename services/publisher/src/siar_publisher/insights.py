"""Answering the metrics service's insights.requested: the publisher is the only holder of
platform credentials, so it reads a post's engagement or an account's audience for it.

Each adapter that can read metrics offers two methods, returning the platform's own metric names
and numbers (nested values summed under the metric's name), and raising
:class:`~siar_publisher.adapters.PlatformError` like ``publish`` does::

    async def insights(client, account, platform_post_id) -> dict[str, int | float]
    async def audience(client, account) -> dict[str, int | float]

The answer is insights.collected or insights.failed (with ``retry_at`` when the platform said
when), written with the inbox record in one transaction: a redelivered request may read the
platform again (a harmless read) but is answered once. An account the platform is rate-limiting
(``paused_until``) is not called at all. A rate limit met here delays this reading (``retry_at``);
it pauses the account for its posts too where the platform counts every call of a token or app
against one budget (Graph's app and Page usage, Mastodon's per-token limit, YouTube's project
quota), but not where each endpoint has a limit of its own (X, TikTok: adapters that say
``separate_read_limits``), since there a 429 on a read says nothing about posting."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import structlog
from siar_contracts import (
    CloudEvent,
    ErrorClass,
    InsightsCollected,
    InsightsFailed,
    InsightsRequested,
)
from siar_runtime.inbox import first_delivery
from siar_runtime.outbox import write_events

from . import store
from .adapters import ADAPTERS, Account, PlatformError, reads_limited_apart
from .delivery import SCHEMA, event, held_reason
from .metrics import PublisherMetrics
from .vault import Vault

log = structlog.get_logger("siar.publisher.insights")


class InsightsReader:
    def __init__(self, client: httpx.AsyncClient, vault: Vault, metrics: PublisherMetrics,
                 on_answered: Callable[[], None] = lambda: None) -> None:
        self.client = client
        self.vault = vault
        self.metrics = metrics
        self.on_answered = on_answered  # wakes the outbox relay

    async def read(self, pool: asyncpg.Pool, request: InsightsRequested) -> InsightsCollected | InsightsFailed:
        """The answer to one request (a platform call unless the account cannot be called)."""
        async with pool.acquire() as conn:
            row = await store.get_account(conn, request.account_id)
            now = await conn.fetchval("SELECT clock_timestamp()")
        try:
            account = self._callable(row, request, now)
            metrics = await self._call(account, request)
        except PlatformError as exc:
            return self._failed(request, exc)
        except Exception as exc:  # a bug in an adapter: the metrics service tries again later
            log.exception("adapter raised an unexpected error while reading insights")
            return self._failed(request, PlatformError(
                ErrorClass.TRANSIENT, f"an unexpected error inside Siar while reading {request.platform}; "
                "it will try again", detail=f"{type(exc).__name__}: {exc}"))
        return InsightsCollected(
            **_ids(request), metrics={str(k): v for k, v in metrics.items()}, collected_at=datetime.now(UTC),
        )

    def _callable(self, row, request: InsightsRequested, now: datetime) -> Account:
        if row is None:
            raise PlatformError(ErrorClass.TARGET_GONE, "the account is no longer connected to Siar")
        if row["status"] != "active":
            raise PlatformError(ErrorClass.AUTH_REVOKED,
                                f"the account needs reconnecting: {row['status_reason'] or 'connect it again'}")
        if row["paused_until"] is not None and row["paused_until"] > now:
            raise PlatformError(ErrorClass.RATE_LIMITED,
                                f"{request.platform} asked Siar to slow down for this account; read again later",
                                retry_at=row["paused_until"])
        return Account(
            account_id=row["account_id"], platform=row["platform"], handle=row["handle"], base_url=row["base_url"],
            credentials=self.vault.open(row["credentials"]), settings=row["settings"], limits=row["limits"],
        )

    async def _call(self, account: Account, request: InsightsRequested) -> dict[str, int | float]:
        adapter = ADAPTERS.get(request.platform)
        method = getattr(adapter, "insights" if request.kind == "post" else "audience", None)
        if method is None:
            raise PlatformError(ErrorClass.INTERNAL, f"Siar cannot read {request.kind} insights from "
                                f"{request.platform} yet")
        started = time.perf_counter()
        try:
            if request.kind == "post":
                if not request.platform_post_id:
                    raise PlatformError(ErrorClass.INTERNAL, "the request names no post on the platform")
                result = await method(self.client, account, request.platform_post_id)
            else:
                result = await method(self.client, account)
        finally:
            self.metrics.insights_seconds.labels(request.platform).observe(time.perf_counter() - started)
        return result

    def _failed(self, request: InsightsRequested, exc: PlatformError) -> InsightsFailed:
        retry_at = exc.retry_at
        if retry_at is None and exc.error_class in (ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED):
            retry_at = datetime.now(UTC) + timedelta(seconds=60)
        return InsightsFailed(
            **_ids(request), error_class=exc.error_class, reason=exc.reason, detail=exc.detail,
            retry_at=retry_at, failed_at=datetime.now(UTC),
        )


def _ids(request: InsightsRequested) -> dict:
    return {
        "request_id": request.request_id, "kind": request.kind, "account_id": request.account_id,
        "platform": request.platform, "platform_post_id": request.platform_post_id, "post_id": request.post_id,
        "target_id": request.target_id,
    }


async def on_insights_requested(event_: CloudEvent, data: InsightsRequested, pool: asyncpg.Pool,
                                reader: InsightsReader) -> None:
    answer = await reader.read(pool, data)
    outcome = "collected" if isinstance(answer, InsightsCollected) else answer.error_class.value
    async with pool.acquire() as conn, conn.transaction():
        if not await first_delivery(conn, event_):
            return
        if isinstance(answer, InsightsFailed) and answer.error_class in (
                ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED) and answer.retry_at is not None \
                and not reads_limited_apart(data.platform):
            await store.pause_account(conn, data.account_id, answer.retry_at,
                                      held_reason(data.platform, answer.error_class, answer.retry_at))
        await write_events(conn, SCHEMA, [event(answer, event_.correlationid, event_.subject or f"account/{data.account_id}")])
    reader.metrics.insights.labels(data.platform, data.kind, outcome).inc()
    reader.on_answered()
    log.info("insights answered", platform=data.platform, kind=data.kind, outcome=outcome, request_id=data.request_id)
