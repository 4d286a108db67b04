"""post.due handled many at a time, on the real PostgreSQL and RabbitMQ: one delivery per target
whatever the repeats inside or across batches, a target whose account is gone fails with its
reason and event, and a crash between the batch's commit and its acknowledgements changes
nothing when the messages come back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aio_pika
from siar_contracts import EVENTS_EXCHANGE, PostDue, queue_name, spec_for_model
from siar_publisher.handlers import batch_handlers, handlers, on_due_batch
from siar_runtime.bus import Bus
from siar_runtime.consumer import Consumer
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics

SPEC = spec_for_model(PostDue)


def due(n: int, account_id: str = "a1"):
    payload = PostDue(post_id=f"p{n}", target_id=f"t{n}", account_id=account_id, platform="mastodon",
                      due_at=datetime.now(UTC), text=f"post {n}", media=[])
    return SPEC.envelope(payload, source="/siar/scheduler", correlation_id=f"c{n}", subject=f"target/t{n}"), payload


async def _deliveries(db: Database) -> dict[str, str]:
    async with db.pool.acquire() as conn:
        return {r["target_id"]: r["state"] for r in await conn.fetch("SELECT target_id, state FROM deliveries")}


async def test_a_batch_records_each_target_once_and_fails_those_of_a_gone_account(db):
    wakes = []
    first = [due(1), due(2), due(3, account_id="gone")]
    await on_due_batch([*first, first[0]], db.pool, lambda: wakes.append(1))  # the same message twice
    assert await _deliveries(db) == {"t1": "pending", "t2": "pending", "t3": "failed"}
    async with db.pool.acquire() as conn:
        reason = await conn.fetchval("SELECT reason FROM deliveries WHERE target_id = 't3'")
        events = await conn.fetch("SELECT routing_key, body FROM outbox")
    assert reason == "the account is no longer connected to Siar"
    assert [e["routing_key"] for e in events] == ["post.failed"] and b'"t3"' in events[0]["body"]
    assert wakes == [1]

    # Redelivered messages and a new post.due for a known target change nothing.
    again = due(2)
    await on_due_batch([first[0], first[1], again], db.pool, lambda: wakes.append(1))
    assert await _deliveries(db) == {"t1": "pending", "t2": "pending", "t3": "failed"}
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
    assert wakes == [1]


async def test_a_crash_between_commit_and_ack_repeats_nothing(db, amqp_url):
    setup = Bus(amqp_url, "test")
    await setup.connect()
    channel = await setup.connection.channel(publisher_confirms=True)
    await (await channel.get_queue(queue_name("publisher"))).purge()
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    for n in range(40):
        event, _ = due(n)
        await exchange.publish(aio_pika.Message(event.to_json(), message_id=event.id), "post.due")

    # First consumer: every batch commits, then the process "dies" before acknowledging.
    doomed = Bus(amqp_url, "publisher")
    await doomed.connect()
    committed = 0

    async def commit_then_die(items):
        nonlocal committed
        await on_due_batch(items, db.pool, lambda: None)
        committed += len(items)
        await doomed.connection.close()

    first = Consumer(doomed, "publisher", handlers(db.pool, lambda: None), ChassisMetrics("test"), prefetch=64,
                     batch_handlers={SPEC.type: commit_then_die}, batch_linger=0.2)
    await first.start()
    for _ in range(200):
        if committed:
            break
        await asyncio.sleep(0.05)
    assert committed > 0
    recorded = await _deliveries(db)

    # The replacement gets every unacknowledged message again and records nothing twice.
    bus = Bus(amqp_url, "publisher")
    await bus.connect()
    metrics = ChassisMetrics("test")
    acked = metrics.events_consumed.labels("post.due", "ok")
    second = Consumer(bus, "publisher", handlers(db.pool, lambda: None), metrics, prefetch=64,
                      batch_handlers=batch_handlers(db.pool, lambda: None))
    await second.start()
    try:
        for _ in range(300):
            if acked._value.get() == 40:
                break
            await asyncio.sleep(0.05)
    finally:
        await second.stop()
        await bus.close()
    final = await _deliveries(db)
    assert sorted(final) == sorted(f"t{n}" for n in range(40))
    assert all(final[t] == state for t, state in recorded.items())
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbox") == 40
    queue = await channel.declare_queue(queue_name("publisher"), passive=True)
    assert queue.declaration_result.message_count == 0
    await setup.close()
