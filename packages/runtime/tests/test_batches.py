"""Batch handling in the consumer, against the real RabbitMQ and PostgreSQL: messages arriving
together are handled in one call; a batch holding a poison message falls back to one by one, so
the poison one is dead-lettered with its reason and the others are handled; the inbox keeps a
batch idempotent."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from siar_contracts import dead_queue_name, queue_name
from siar_runtime.bus import Bus
from siar_runtime.consumer import Consumer, Rejected
from siar_runtime.inbox import first_deliveries
from siar_runtime.metrics import ChassisMetrics

from packages.runtime.tests.broker_kit import SPEC, cancelled, publish, until


async def _queue_depth(bus: Bus, name: str) -> int:
    channel = await bus.connection.channel()
    queue = await channel.declare_queue(name, passive=True)
    await channel.close()
    return queue.declaration_result.message_count


async def test_messages_arriving_together_are_handled_in_one_call_and_acknowledged(bus):
    batches: list[list[str]] = []
    singles: list[str] = []

    async def one(event, payload):
        singles.append(payload.post_id)

    async def many(items):
        batches.append([payload.post_id for _, payload in items])

    consumer = Consumer(bus, "publisher", {SPEC.type: one}, ChassisMetrics("test"), prefetch=50,
                        batch_handlers={SPEC.type: many}, batch_linger=0.05)
    await publish(bus, [cancelled(i) for i in range(120)])
    await consumer.start()
    try:
        await until(lambda: sum(map(len, batches)) == 120)
    finally:
        await consumer.stop()
    assert sorted(p for b in batches for p in b) == sorted(f"p{i}" for i in range(120))
    assert max(map(len, batches)) > 1 and max(map(len, batches)) <= 50  # never more than the prefetch
    assert singles == []
    await until(lambda: False, timeout=0.3)  # let the acks reach the broker
    assert await _queue_depth(bus, queue_name("publisher")) == 0


async def test_a_poison_message_fails_its_batch_and_is_dead_lettered_alone(bus):
    handled: list[str] = []
    batch_calls = 0

    async def one(event, payload):
        if payload.reason == "refuse":
            raise Rejected("refused", "the handler said no")
        handled.append(payload.post_id)

    async def many(items):
        nonlocal batch_calls
        batch_calls += 1
        if any(payload.reason == "refuse" for _, payload in items):
            raise ValueError("one of these cannot be stored")
        handled.extend(payload.post_id for _, payload in items)

    consumer = Consumer(bus, "publisher", {SPEC.type: one}, ChassisMetrics("test"), prefetch=50,
                        batch_handlers={SPEC.type: many}, batch_linger=0.2)
    events = [cancelled(i) for i in range(10)] + [cancelled(99, reason="refuse")] + [cancelled(i) for i in range(10, 20)]
    await publish(bus, events)
    await consumer.start()
    try:
        await until(lambda: len(handled) == 20)
        channel = await bus.connection.channel()
        dlq = await channel.get_queue(dead_queue_name("publisher"))
        dead = None
        for _ in range(100):
            dead = await dlq.get(no_ack=True, fail=False)
            if dead is not None:
                break
            await asyncio.sleep(0.05)
        await channel.close()
    finally:
        await consumer.stop()
    assert batch_calls >= 1
    assert sorted(handled) == sorted(f"p{i}" for i in range(20))  # each once, none lost
    assert dead is not None and dead.headers["x-siar-reason"] == "refused"
    assert b'"p99"' in dead.body


def test_a_batch_handler_needs_a_single_handler_to_fall_back_on(bus):
    async def many(items):
        return None

    with pytest.raises(ValueError, match="fall back"):
        Consumer(bus, "publisher", {}, ChassisMetrics("test"), batch_handlers={SPEC.type: many})


async def test_first_deliveries_keeps_each_new_event_once(clean_db):
    conn = await asyncpg.connect(clean_db, server_settings={"search_path": "publisher"})
    try:
        a, b, c = cancelled(1), cancelled(2), cancelled(3)
        async with conn.transaction():
            assert [e.id for e in await first_deliveries(conn, [a, b, a])] == [a.id, b.id]
        async with conn.transaction():
            assert [e.id for e in await first_deliveries(conn, [b, c, a])] == [c.id]
    finally:
        await conn.close()
