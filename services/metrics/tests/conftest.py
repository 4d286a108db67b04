"""The metrics service against the real database (and, for the wiring, the real broker), and the
test data: events as the scheduler and the publisher would send them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from siar_contracts import (
    CloudEvent,
    InsightsCollected,
    InsightsFailed,
    PostPublished,
    PostScheduled,
    TargetPlan,
    spec_for_model,
)
from siar_metrics import announce, collections, store
from siar_metrics.ingest import Answer, Policy, store_answers
from siar_metrics.settings import MetricsSettings, schedule
from siar_runtime.db import Database

TOKEN = "metrics-test-token"
STEPS = schedule("1h,6h,1d,3d,7d,30d")


def settings_for(database_url: str, amqp_url: str, **extra) -> MetricsSettings:
    return MetricsSettings(**{
        "database_url": database_url, "amqp_url": amqp_url, "api_tokens": f"{TOKEN}:admin", "environment": "test",
        "outbox_poll_seconds": 0.2, "sweep_seconds": 0.5, "gauge_refresh_seconds": 0.2, **extra,
    })


@pytest.fixture
async def db(clean_db):
    database = await Database.open(clean_db, "metrics", max_size=6)
    yield database
    await database.close()


def envelope(model, correlation_id: str | None = None, source: str = "/siar/publisher"):
    return spec_for_model(type(model)).envelope(model, source=source, correlation_id=correlation_id or str(uuid.uuid4()))


async def publish_target(db: Database, *, platform: str = "mastodon", account_id: str = "acc-m",
                         published_at: datetime | None = None, post_id: str | None = None,
                         text: str | None = "Pameran buku anak #PalembangBaca", campaign_id: str | None = None,
                         campaign_hashtags: list[str] | None = None, steps=STEPS) -> dict:
    """What post.scheduled and post.published leave behind: the post read model and its plan."""
    from siar_metrics.handlers import hashtags

    post_id = post_id or str(uuid.uuid4())
    target_id = str(uuid.uuid4())
    published_at = published_at or datetime.now(UTC)
    correlation_id = str(uuid.uuid4())
    platform_post_id = str(uuid.uuid4().int)[:18]
    async with db.pool.acquire() as conn, conn.transaction():
        if text is not None:
            await store.upsert_post(conn, post_id, text, hashtags(text, campaign_hashtags or []), campaign_id,
                                    campaign_hashtags or [], published_at)
        await store.insert_target(conn, target_id=target_id, post_id=post_id, account_id=account_id,
                                  platform=platform, platform_post_id=platform_post_id, url=None,
                                  published_at=published_at, correlation_id=correlation_id)
        await collections.plan_post(conn, target_id=target_id, post_id=post_id, account_id=account_id,
                                    platform=platform, platform_post_id=platform_post_id, published_at=published_at,
                                    correlation_id=correlation_id, steps=steps)
    return {"post_id": post_id, "target_id": target_id, "published_at": published_at,
            "correlation_id": correlation_id, "platform": platform, "account_id": account_id}


async def settled(db: Database) -> None:
    """Wait until every reading stored so far is below the announcer's horizon: a transaction
    anywhere on the server (another service's relay, say) holds it back for a moment."""
    async with db.pool.acquire() as conn:
        newest = await conn.fetchval("SELECT max(txid) FROM readings")
        offset = await conn.fetchval("SELECT txid_offset FROM announced WHERE log = 'readings'")
        if offset is None:
            offset = await store.default_offset(conn)  # as the announcer will recreate its cursor
        for _ in range(200):
            if newest is None or await conn.fetchval(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint + $1::bigint", offset) > newest:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("a transaction on the server kept the announcer's horizon back for 10 s")


async def pending_events(db: Database, key: str | None = None, *, settle: bool = True) -> list[CloudEvent]:
    """The events the announcer would publish next (rendered as it does, not published), of one
    routing key or all, in the log's order (once settled, unless told not to wait)."""
    if settle:
        await settled(db)
    async with db.pool.acquire() as conn, conn.transaction():
        cursor = await store.announce_cursor(conn)
        rows = await store.unannounced(conn, cursor, 1_000_000, announce.TYPES)
    return [CloudEvent.from_json(r["body"]) for r in rows if key is None or announce.ROUTING[r["kind"]] == key]


async def readings(db: Database, target_id: str) -> list:
    """Every reading of a target in schedule order: those still to take (collections) and those
    taken (readings, state 'collected')."""
    async with db.pool.acquire() as conn:
        return await conn.fetch(
            """
            SELECT request_id, kind, stage, target_id, post_id, account_id, platform, platform_post_id,
                   correlation_id, planned_at, due_at, state, attempts, error_class, reason,
                   NULL::float8 AS views, NULL::float8 AS reach, NULL::float8 AS likes, NULL::float8 AS comments,
                   NULL::float8 AS shares, NULL::float8 AS followers, NULL::float8 AS interactions,
                   NULL::float8 AS denominator, NULL::text AS basis
            FROM collections WHERE target_id = $1
            UNION ALL
            SELECT r.request_id, r.kind, r.stage, r.target_id, r.post_id, r.account_id, r.platform,
                   t.platform_post_id, t.correlation_id, r.planned_at, NULL, 'collected', r.attempts, NULL, NULL,
                   r.views, r.reach, r.likes, r.comments, r.shares, r.followers, r.interactions, r.denominator,
                   r.basis
            FROM readings r JOIN targets t USING (target_id) WHERE r.target_id = $1
            ORDER BY planned_at
            """,
            target_id,
        )


def collected(row, metrics: dict, at: datetime | None = None) -> InsightsCollected:
    return InsightsCollected(
        request_id=str(row["request_id"]), kind=row["kind"], account_id=row["account_id"], platform=row["platform"],
        platform_post_id=row["platform_post_id"], post_id=row["post_id"], target_id=row["target_id"],
        metrics=metrics, collected_at=at or datetime.now(UTC),
    )


def failed(row, error_class: str, reason: str = "slow down", retry_at: datetime | None = None) -> InsightsFailed:
    return InsightsFailed(
        request_id=str(row["request_id"]), kind=row["kind"], account_id=row["account_id"], platform=row["platform"],
        error_class=error_class, reason=reason, retry_at=retry_at, failed_at=datetime.now(UTC),
    )


async def answer(db: Database, *payloads, policy: Policy | None = None):
    async with db.pool.acquire() as conn, conn.transaction():
        return await store_answers(conn, [Answer(envelope(p), p) for p in payloads], policy or Policy())


async def make_due(db: Database, request_ids=None, states=("planned", "requested")) -> None:
    """Bring waiting readings forward to now (all, or these, or those in these states)."""
    async with db.pool.acquire() as conn:
        await conn.execute(
            "UPDATE collections SET due_at = clock_timestamp() - interval '1 second'"
            " WHERE state = ANY($2::text[]) AND ($1::uuid[] IS NULL OR request_id = ANY($1::uuid[]))",
            request_ids, list(states),
        )


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def scheduled(post_id: str, text: str, campaign_id: str | None = None, hashtags: list[str] | None = None) -> PostScheduled:
    return PostScheduled(
        post_id=post_id, scheduled_at=datetime.now(UTC), text=text,
        targets=[TargetPlan(target_id=str(uuid.uuid4()), account_id="acc-m", platform="mastodon",
                            due_at=datetime.now(UTC), status="scheduled")],
        campaign_id=campaign_id, campaign_hashtags=hashtags or [],
    )


def published(post_id: str, platform: str = "mastodon", account_id: str = "acc-m",
              at: datetime | None = None) -> PostPublished:
    return PostPublished(
        post_id=post_id, target_id=str(uuid.uuid4()), account_id=account_id, platform=platform,
        platform_post_id="110000000000000001", url="https://sandbox/@perpus/1", published_at=at or datetime.now(UTC),
        attempts=1,
    )
