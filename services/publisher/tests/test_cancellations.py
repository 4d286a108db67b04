"""A delivery that has not gone out, on the real database, and what may stop or hold it.

post.cancelled, whatever it meets: a delivery waiting for its first attempt or a retry is
cancelled; a post.due that comes after the cancellation (redelivered, or overtaken by it) is
recorded as cancelled and never sent; an attempt under way when the cancellation came plans no
retry, and one the rate limit gives back is not tried again. An account's pause (a platform's
429): the deliveries it holds back say so, and until when."""

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


# ------------------------------------------------------------------- held back by the account's pause


async def retrying_events(db: Database) -> list[dict]:
    import json

    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT body FROM outbox WHERE routing_key = 'post.retrying' ORDER BY id")
    return [json.loads(bytes(r["body"]))["data"] for r in rows]


async def test_deliveries_held_back_by_a_429_say_why_and_until_when(db):
    # After a 429 the account is paused: its other deliveries waited without a word ('due' at the
    # scheduler, no reason) until the pause ended. Now each says it waits, and until when.
    from siar_contracts import ErrorClass
    from siar_publisher.delivery import held_event, held_reason

    for n in (1, 2, 3):
        await on_due(*due(n), db.pool, lambda: None)
    until = datetime.now(UTC) + timedelta(minutes=2)
    why = held_reason("mastodon", ErrorClass.RATE_LIMITED, until)
    assert why.startswith("waiting: Mastodon asked Siar to slow down for this account; it goes out after ")
    async with db.pool.acquire() as conn, conn.transaction():
        # As the worker does on t1's 429: t1 retries when the pause ends, the account pauses.
        await conn.execute("UPDATE deliveries SET next_attempt_at = $1 WHERE target_id = 't1'", until)
        await store.pause_account(conn, "a1", until, why)
        held = await store.hold_pending(conn, "a1", until, "rate_limited", why, "t1")
        from siar_runtime.outbox import write_events

        await write_events(conn, "publisher", [held_event(h, ErrorClass.RATE_LIMITED, why) for h in held])
        assert await store.hold_pending(conn, "a1", until, "rate_limited", why, "t1") == []  # said once
    # A post.due for the paused account that comes meanwhile says so at once.
    await on_due_batch([due(4)], db.pool, lambda: None)
    told = await retrying_events(db)
    assert sorted(e["target_id"] for e in told) == ["t2", "t3", "t4"]
    assert {e["reason"] for e in told} == {why} and {e["attempt"] for e in told} == {0}
    assert await claimable(db) == []  # nothing goes before the pause ends
