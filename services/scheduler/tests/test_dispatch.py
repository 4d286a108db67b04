"""Dispatch on the real database: due targets become exactly one post.due each, in batches,
even with two scheduler replicas claiming at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from siar_contracts import CloudEvent
from siar_runtime.bus import Bus, outgoing
from siar_runtime.db import Database
from siar_runtime.due import DueRunner
from siar_runtime.metrics import ChassisMetrics
from siar_runtime.outbox import OutboxRelay
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


async def test_post_due_straight_to_the_broker_with_parallel_claims_once_each(clean_db, amqp_url, tap):
    """The scheduler's own path: two replicas, each claiming three batches at once during the
    burst, publish the post.due of full claims from the claiming transaction and of the last,
    short ones through the outbox — each target once either way."""
    db = await Database.open(clean_db, "scheduler", max_size=12)
    bus = Bus(amqp_url, "scheduler")
    await bus.connect()
    relay = OutboxRelay(db, bus, ChassisMetrics("test"))
    relay.start()

    async def announce(events):
        await bus.publish_confirmed([outgoing(e) for e in events])

    async def dispatch(conn, limit):
        return await posts.dispatch_due(conn, limit, announce=announce)

    await _schedule(db, 600, datetime.now(UTC) + timedelta(milliseconds=300))
    replicas = [
        DueRunner(db, name=f"r{i}", channel=store.DUE_CHANNEL, seconds_until_next_sql=store.SECONDS_UNTIL_NEXT_DUE,
                  claim=dispatch, batch=50, sweep_seconds=1, parallel=3, after_commit=lambda rows: relay.wake())
        for i in range(2)
    ]
    for r in replicas:
        r.start()
    try:
        await tap.wait(lambda: len([e for e in tap.events if e["_key"] == "post.due"]) >= 1200, timeout=30)
        await asyncio.sleep(0.5)  # a repeat would arrive by now
    finally:
        for r in replicas:
            await r.stop()
        await relay.stop()
    async with db.pool.acquire() as conn:
        outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM targets GROUP BY 1"))
    await bus.close()
    await db.close()
    due = [e for e in tap.events if e["_key"] == "post.due"]
    assert statuses == {"due": 1200} and outbox == 0  # the relay's share confirmed and deleted too
    assert len(due) == 1200 and len({e["data"]["target_id"] for e in due}) == 1200


async def test_a_claim_whose_post_due_the_broker_did_not_take_rolls_back(clean_db):
    """Nothing is lost when publishing fails: the claim's transaction rolls back, the targets stay
    scheduled, and the next claim (the broker back) takes them."""
    db = await Database.open(clean_db, "scheduler")
    await _schedule(db, 5, datetime.now(UTC) - timedelta(seconds=1))  # 10 targets: claims of 10 are full
    announced: list[list[CloudEvent]] = []

    async def refused(events):
        raise ConnectionError("not connected to the broker")

    async def accepted(events):
        announced.append(events)

    try:
        async with db.pool.acquire() as conn, conn.transaction():
            await posts.dispatch_due(conn, 10, announce=refused)
    except ConnectionError:
        pass
    else:
        raise AssertionError("the refusal did not reach the claim")
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM targets WHERE status = 'scheduled'") == 10
    async with db.pool.acquire() as conn, conn.transaction():
        assert len(await posts.dispatch_due(conn, 10, announce=accepted)) == 10
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM targets WHERE status = 'due'") == 10
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    await db.close()
    assert sorted(e.data["target_id"] for e in announced[0]) == sorted({e.data["target_id"] for e in announced[0]})
    assert len(announced[0]) == 10


async def test_a_claim_that_is_not_full_goes_to_the_broker_and_without_it_to_the_outbox(clean_db):
    """Posts trickling in at their times go out from the claim like a burst's; only while the
    broker is not connected (no ``announce``) does a claim commit with its events in the outbox."""
    db = await Database.open(clean_db, "scheduler")
    await _schedule(db, 3, datetime.now(UTC) - timedelta(seconds=1))
    announced: list = []

    async def accepted(events):
        announced.append(events)

    async with db.pool.acquire() as conn, conn.transaction():
        assert len(await posts.dispatch_due(conn, 10, announce=accepted)) == 6
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    assert [len(events) for events in announced] == [6]

    await _schedule(db, 2, datetime.now(UTC) - timedelta(seconds=1))
    async with db.pool.acquire() as conn, conn.transaction():
        assert len(await posts.dispatch_due(conn, 10, announce=None)) == 4
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE routing_key = 'post.due'") == 4
    await db.close()
    assert [len(events) for events in announced] == [6]



def _from_publisher(model, target, **data):
    from siar_contracts import spec_for_model

    payload = model(post_id=str(target["post_id"]), target_id=str(target["target_id"]),
                    account_id=target["account_id"], platform=target["platform"], **data)
    return spec_for_model(model).envelope(payload, source="/siar/publisher", correlation_id="c", subject="t"), payload


async def test_a_target_waiting_to_retry_can_be_cancelled_and_only_what_went_out_says_published(clean_db):
    # A platform's 429 leaves a target retrying at the publisher for minutes: the librarian can
    # still cancel it. post.cancelled names it (the publisher stops the retry); a retry planned
    # by an attempt under way does not bring it back, but a post that did go out shows published.
    from siar_contracts import PostPublished, PostRetrying
    from siar_scheduler.handlers import on_published, on_retrying

    db = await Database.open(clean_db, "scheduler")
    try:
        await _schedule(db, 2, datetime.now(UTC) - timedelta(seconds=1))
        async with db.pool.acquire() as conn, conn.transaction():
            await posts.dispatch_due(conn, 10)
            post_id = await conn.fetchval("SELECT post_id FROM posts ORDER BY post_id LIMIT 1")
            mine = await conn.fetch("SELECT * FROM targets WHERE post_id = $1 ORDER BY platform", post_id)
        waiting, sent = mine  # mastodon, telegram
        await on_retrying(*_from_publisher(PostRetrying, waiting, error_class="rate_limited", reason="slow down",
                                           attempt=1, next_attempt_at=datetime.now(UTC)), db.pool)

        out = await posts.cancel_post(db.pool, post_id, "salah tanggal")
        assert {t.status for t in out.targets} == {"cancelled"} and out.status == "cancelled"
        async with db.pool.acquire() as conn:
            [body] = [bytes(r["body"]) for r in await conn.fetch(
                "SELECT body FROM outbox WHERE routing_key = 'post.cancelled'")]
        assert sorted(CloudEvent.from_json(body).data["target_ids"]) == sorted(str(t["target_id"]) for t in mine)

        # What the publisher's attempts under way at that moment report afterwards.
        await on_retrying(*_from_publisher(PostRetrying, waiting, error_class="transient", reason="502", attempt=2,
                                           next_attempt_at=datetime.now(UTC)), db.pool)
        await on_published(*_from_publisher(PostPublished, sent, platform_post_id="99", url=None,
                                            published_at=datetime.now(UTC), attempts=1), db.pool)
        async with db.pool.acquire() as conn:
            after = dict(await conn.fetch("SELECT platform, status FROM targets WHERE post_id = $1", post_id))
            others = {r[0] for r in await conn.fetch("SELECT status FROM targets WHERE post_id <> $1", post_id)}
        assert after == {"mastodon": "cancelled", "telegram": "published"}
        assert others == {"due"}  # the other post was not touched
    finally:
        await db.close()
