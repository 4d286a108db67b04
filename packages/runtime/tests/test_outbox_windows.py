"""The outbox relay's pipelined windows against the real RabbitMQ and PostgreSQL: several windows
awaiting confirms at once still deliver every event in outbox order, and a window the broker
refuses leaves its rows for the next pass."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from siar_contracts import EVENTS_EXCHANGE, PostCancelled, queue_name, spec_for_model
from siar_runtime.bus import Bus, declare_topology
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics
from siar_runtime.outbox import OutboxRelay, write_events


def cancelled(n: int):
    return spec_for_model(PostCancelled).envelope(
        PostCancelled(post_id=f"p{n}", target_ids=[f"t{n}"], reason="test"),
        source="/test", correlation_id=f"c{n}",
    )


@pytest.fixture
async def bus(amqp_url):
    bus = Bus(amqp_url, "test")
    await bus.connect()
    channel = await bus.connection.channel()
    await (await channel.get_queue(queue_name("publisher"))).purge()
    await channel.close()
    yield bus
    await bus.close()


async def _received(bus: Bus, expected: int, timeout: float = 15) -> list[str]:
    channel = await bus.connection.channel()
    queue = await channel.get_queue(queue_name("publisher"))
    got: list[str] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < expected and asyncio.get_running_loop().time() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        got.append(message.message_id)
    await channel.close()
    return got


async def _pending(db: Database) -> int:
    async with db.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM outbox")


async def test_windows_in_flight_deliver_everything_in_outbox_order(clean_db, bus):
    db = await Database.open(clean_db, "publisher")
    events = [cancelled(i) for i in range(430)]
    async with db.pool.acquire() as conn, conn.transaction():
        await write_events(conn, "publisher", events)
    relay = OutboxRelay(db, bus, ChassisMetrics("test"), batch=50, windows=3)
    assert await relay.drain_once() == 430
    assert await _received(bus, 430) == [e.id for e in events]
    assert await _pending(db) == 0
    await db.close()


async def test_a_refused_window_keeps_its_rows_until_the_broker_takes_them(clean_db, bus):
    db = await Database.open(clean_db, "publisher")
    events = [cancelled(i) for i in range(120)]
    async with db.pool.acquire() as conn, conn.transaction():
        await write_events(conn, "publisher", events)
    relay = OutboxRelay(db, bus, ChassisMetrics("test"), batch=50, windows=3)
    # The exchange disappears (a broker reset without its definitions): the channel is closed
    # with NOT_FOUND, no confirm arrives, and the windows roll back.
    admin = await bus.connection.channel()
    await admin.exchange_delete(EVENTS_EXCHANGE)
    with pytest.raises(aio_pika.exceptions.AMQPError):
        await relay.drain_once()
    # The refused window keeps its rows. A window behind it may have gone out: the robust channel
    # reopens at once and declares again what it had declared, the exchange among them, so a
    # window sent after that is confirmed — and delivered — and its rows are rightly gone.
    kept = await _pending(db)
    delivered = (await admin.declare_queue(queue_name("publisher"), passive=True)).declaration_result.message_count
    assert kept >= 50 and kept + delivered == 120
    await declare_topology(admin)
    await admin.close()
    sent = 0
    for _ in range(50):  # the robust channel reopens in the background
        try:
            sent += await relay.drain_once()
        except aio_pika.exceptions.AMQPError:
            await asyncio.sleep(0.1)
        if sent == kept:
            break
    assert sent == kept
    assert sorted(await _received(bus, 120)) == sorted(e.id for e in events)
    assert await _pending(db) == 0
    await db.close()


async def test_a_trickle_of_commits_goes_out_without_waiting_for_a_poll(clean_db, bus):
    """Events committed one by one while the relay is busy with earlier ones: no wake-up is lost
    between a window's read and the next wait, so with a 30 s poll every event still reaches the
    broker within seconds, once and in order."""
    db = await Database.open(clean_db, "publisher")
    relay = OutboxRelay(db, bus, ChassisMetrics("test"), batch=50, windows=3, poll_seconds=30)
    relay.start()
    try:
        await asyncio.sleep(0.2)  # listening
        events = [cancelled(i) for i in range(60)]
        for event in events:
            async with db.pool.acquire() as conn, conn.transaction():
                await write_events(conn, "publisher", [event])
            relay.wake()
            await asyncio.sleep(0.005)
        assert await _received(bus, 60, timeout=10) == [e.id for e in events]
        for _ in range(100):
            if await _pending(db) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _pending(db) == 0
    finally:
        await relay.stop()
        await db.close()


async def test_the_confirmed_hook_gets_each_window_of_events_after_its_confirms(clean_db, bus):
    db = await Database.open(clean_db, "publisher")
    events = [cancelled(i) for i in range(120)]
    async with db.pool.acquire() as conn, conn.transaction():
        await write_events(conn, "publisher", events)
    seen: list[tuple[str, int]] = []  # (event id, rows still in the outbox when it was called)

    def confirmed(sent) -> None:
        seen.extend((o.event_id, len(sent)) for o in sent)

    relay = OutboxRelay(db, bus, ChassisMetrics("test"), batch=50, windows=3, confirmed=confirmed)
    assert await relay.drain_once() == 120
    assert [event_id for event_id, _ in seen] == [e.id for e in events]
    assert [size for _, size in seen] == [50] * 100 + [20] * 20  # one call per window
    assert await _received(bus, 120) == [e.id for e in events]
    await db.close()
