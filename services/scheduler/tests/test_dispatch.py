"""Dispatch on the real database: due targets become exactly one post.due each, in batches,
even with two scheduler replicas claiming at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from siar_contracts import CloudEvent
from siar_runtime.db import Database
from siar_runtime.due import DueRunner
from siar_scheduler import posts, store
from siar_scheduler.schemas import MediaIn


async def _schedule(db: Database, n: int, when: datetime) -> None:
    async with db.pool.acquire() as conn, conn.transaction():
        for i in range(n):
            await store.insert_post(
                conn, post_id=uuid.uuid4(), text=f"post {i}", media=[MediaIn(url="https://e.org/a.png", alt_text="a")],
                title=None, scheduled_at=when, timezone=None, correlation_id=str(uuid.uuid4()),
                idempotency_key=None, created_by="test",
                targets=[(uuid.uuid4(), "acct-m", "mastodon"), (uuid.uuid4(), "acct-t", "telegram")],
            )


async def test_two_replicas_dispatch_every_due_target_exactly_once(clean_db):
    db = await Database.open(clean_db, "scheduler", max_size=6)
    await _schedule(db, 1000, datetime.now(UTC) + timedelta(milliseconds=300))
    batches: list[int] = []
    replicas = [
        DueRunner(db, name=f"r{i}", channel=store.DUE_CHANNEL, seconds_until_next_sql=store.SECONDS_UNTIL_NEXT_DUE,
                  claim=posts.dispatch_due, batch=200, sweep_seconds=1, after_commit=lambda rows: batches.append(len(rows)))
        for i in range(2)
    ]
    for r in replicas:
        r.start()
    try:
        for _ in range(100):
            async with db.pool.acquire() as conn:
                if await conn.fetchval("SELECT count(*) FROM targets WHERE status = 'scheduled'") == 0:
                    break
            await asyncio.sleep(0.1)
    finally:
        for r in replicas:
            await r.stop()
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT routing_key, body FROM outbox")
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM targets GROUP BY 1"))
    await db.close()
    events = [CloudEvent.from_json(bytes(r["body"])) for r in rows]
    due = [e for e in events if e.type == "org.siar.post.due.v1"]
    assert statuses == {"due": 2000}
    assert len(due) == 2000
    assert len({e.data["target_id"] for e in due}) == 2000  # never the same target twice
    assert max(batches) > 1  # claimed in batches, not one by one
    sample = due[0].data
    assert sample["media"][0]["alt_text"] == "a"
    assert due[0].subject == f"target/{sample['target_id']}"


async def test_nothing_is_dispatched_before_its_time(clean_db):
    db = await Database.open(clean_db, "scheduler")
    await _schedule(db, 3, datetime.now(UTC) + timedelta(hours=1))
    async with db.pool.acquire() as conn, conn.transaction():
        assert await posts.dispatch_due(conn, 100) == []
    async with db.pool.acquire() as conn:
        assert 3590 < await conn.fetchval(store.SECONDS_UNTIL_NEXT_DUE) <= 3600
    await db.close()


async def test_posts_not_approved_by_their_time_fail_once_and_the_runner_does_not_spin(clean_db):
    db = await Database.open(clean_db, "scheduler", max_size=4)
    when = datetime.now(UTC) + timedelta(milliseconds=300)
    async with db.pool.acquire() as conn, conn.transaction():
        for i in range(60):
            await store.insert_post(
                conn, post_id=uuid.uuid4(), text=f"post {i}", media=[], title=None, scheduled_at=when, timezone=None,
                correlation_id=str(uuid.uuid4()), idempotency_key=None, created_by="test",
                targets=[(uuid.uuid4(), "acct-t", "telegram")],
                review_state=("approved", "in_review", "draft")[i % 3],
            )
    claims = 0

    async def counting_claim(conn, limit):
        nonlocal claims
        claims += 1
        return await posts.dispatch_due(conn, limit)

    runner = DueRunner(db, name="r", channel=store.DUE_CHANNEL, seconds_until_next_sql=store.SECONDS_UNTIL_NEXT_DUE,
                       claim=counting_claim, batch=25, sweep_seconds=1)
    runner.start()
    try:
        for _ in range(50):
            async with db.pool.acquire() as conn:
                if await conn.fetchval("SELECT count(*) FROM targets WHERE status = 'scheduled'") == 0:
                    break
            await asyncio.sleep(0.1)
        settled = claims
        await asyncio.sleep(1.5)
        assert claims - settled <= 3  # the sweep, not a spin: nothing 'scheduled' is left behind
    finally:
        await runner.stop()
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT routing_key, body FROM outbox")
        outcome = dict(await conn.fetch(
            "SELECT p.review_state || ':' || t.status || ':' || coalesce(t.error_class, ''), count(*)"
            " FROM targets t JOIN posts p USING (post_id) GROUP BY 1"))
        assert await conn.fetchval(store.SECONDS_UNTIL_NEXT_DUE) is None
        audited = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'post.not_approved'")
    await db.close()
    assert outcome == {"approved:due:": 20, "in_review:failed:not_approved": 20, "draft:failed:not_approved": 20}
    events = [CloudEvent.from_json(bytes(r["body"])) for r in rows]
    assert sorted({e.type for e in events}) == ["org.siar.post.due.v1", "org.siar.post.failed.v1"]
    failed = [e for e in events if e.type == "org.siar.post.failed.v1"]
    assert len(failed) == 40 and {e.data["error_class"] for e in failed} == {"not_approved"}
    assert all(e.data["reason"].startswith("Not sent") for e in failed)
    assert audited == 40
