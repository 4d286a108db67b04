"""post.cancelled on the real database, whatever it meets: a delivery waiting for its first
attempt or a retry is cancelled; a post.due that comes after the cancellation (redelivered, or
overtaken by it) is recorded as cancelled and never sent; an attempt under way when the
cancellation came plans no retry, and one the rate limit gives back is not tried again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from siar_contracts import PostCancelled, PostDue, spec_for_model
from siar_publisher import store
from siar_publisher.handlers import on_cancelled, on_due, on_due_batch
from siar_runtime.db import Database

DUE = spec_for_model(PostDue)
CANCELLED = spec_for_model(PostCancelled)
REASON = "acara dibatalkan"


def due(n: int):
    payload = PostDue(post_id=f"p{n}", target_id=f"t{n}", account_id="a1", platform="mastodon",
                      due_at=datetime.now(UTC), text=f"post {n}", media=[])
    return DUE.envelope(payload, source="/siar/scheduler", correlation_id=f"c{n}", subject=f"target/t{n}"), payload


def cancelled(*targets: str):
    payload = PostCancelled(post_id="p", target_ids=list(targets), reason=REASON)
    return CANCELLED.envelope(payload, source="/siar/scheduler", correlation_id="c", subject="post/p"), payload


async def deliveries(db: Database) -> dict[str, tuple[str, str | None]]:
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT target_id, state, reason FROM deliveries ORDER BY target_id")
    return {r["target_id"]: (r["state"], r["reason"]) for r in rows}


async def claimable(db: Database) -> list[str]:
    async with db.pool.acquire() as conn, conn.transaction():
        return [r["target_id"] for r in await store.claim(conn, 10, 45, [])]


async def test_a_delivery_waiting_for_its_first_attempt_is_cancelled(db):
    await on_due(*due(1), db.pool, lambda: None)
    await on_cancelled(*cancelled("t1"), db.pool)
    assert await deliveries(db) == {"t1": ("cancelled", REASON)}
    assert await claimable(db) == []


async def test_a_post_due_that_comes_after_its_cancellation_is_never_sent(db):
    await on_cancelled(*cancelled("t1", "t2", "t3"), db.pool)
    await on_due(*due(1), db.pool, lambda: None)  # one at a time
    await on_due_batch([due(2), due(4)], db.pool, lambda: None)  # and a batch, beside one not cancelled
    assert await deliveries(db) == {"t1": ("cancelled", REASON), "t2": ("cancelled", REASON), "t4": ("pending", None)}
    assert await claimable(db) == ["t4"]


async def test_an_attempt_under_way_when_cancelled_plans_no_retry(db):
    await on_due(*due(1), db.pool, lambda: None)
    await on_due(*due(2), db.pool, lambda: None)
    assert sorted(await claimable(db)) == ["t1", "t2"]  # both in flight
    await on_cancelled(*cancelled("t1", "t2"), db.pool)
    assert await deliveries(db) == {"t1": ("in_flight", None), "t2": ("in_flight", None)}  # cannot be stopped
    async with db.pool.acquire() as conn:
        # t1's attempt failed for a moment and would be retried; t2 was given back by the rate limit.
        state = await store.finish(conn, "t1", 1, state="pending", error_class="transient", reason="502",
                                   next_attempt_at=datetime.now(UTC))
        await store.defer(conn, [("t2", datetime.now(UTC) - timedelta(seconds=1))])
    assert state == "cancelled"
    assert await deliveries(db) == {"t1": ("cancelled", REASON), "t2": ("cancelled", REASON)}
    assert await claimable(db) == []


async def test_an_attempt_that_finishes_after_a_cancellation_records_what_happened(db):
    # Published is the truth, cancellation or not: the scheduler shows the target published.
    await on_due(*due(1), db.pool, lambda: None)
    await claimable(db)
    await on_cancelled(*cancelled("t1"), db.pool)
    async with db.pool.acquire() as conn:
        assert await store.finish(conn, "t1", 1, state="published", platform_post_id="1") == "published"
