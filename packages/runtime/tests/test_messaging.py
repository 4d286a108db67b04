"""The outbox relay and the consumer against the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import aio_pika
import asyncpg
import pytest
from siar_contracts import (
    DEAD_EXCHANGE,
    EVENTS_EXCHANGE,
    PostCancelled,
    PostDue,
    dead_queue_name,
    queue_name,
    spec_for_model,
)
from siar_runtime.bus import Bus, Outgoing
from siar_runtime.consumer import Consumer, Rejected
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics
from siar_runtime.outbox import OutboxRelay, write_events


def cancelled(n: int):
    return spec_for_model(PostCancelled).envelope(
        PostCancelled(post_id=f"p{n}", target_ids=[f"t{n}"], reason="test"),
        source="/test", correlation_id=f"c{n}",
    )


async def _drain(bus: Bus, queue: str, expected: int, timeout: float = 10) -> list[aio_pika.abc.AbstractIncomingMessage]:
    channel = await bus.connection.channel()
    q = await channel.get_queue(queue)
    got = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < expected and asyncio.get_running_loop().time() < deadline:
        message = await q.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        got.append(message)
    await channel.close()
    return got


async def test_outbox_relay_publishes_confirmed_and_empties_the_table(clean_db, bus):
    db = await Database.open(clean_db, "publisher")
    relay = OutboxRelay(db, bus, ChassisMetrics("test"), batch=50, poll_seconds=0.2)
    events = [cancelled(i) for i in range(120)]
    async with db.pool.acquire() as conn, conn.transaction():
        await write_events(conn, "publisher", events)
    relay.start()
    try:
        got = await _drain(bus, queue_name("publisher"), 120)
    finally:
        await relay.stop()
    assert sorted(m.message_id for m in got) == sorted(e.id for e in events)
    assert {m.content_type for m in got} == {"application/cloudevents+json"}
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    await db.close()


async def test_rolled_back_transaction_publishes_nothing(clean_db, bus):
    db = await Database.open(clean_db, "publisher")
    with pytest.raises(RuntimeError):
        async with db.pool.acquire() as conn, conn.transaction():
            await write_events(conn, "publisher", [cancelled(1)])
            raise RuntimeError("the state change failed")
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    await db.close()


async def _publish_raw(bus: Bus, body: bytes, routing_key: str = "post.cancelled") -> None:
    channel = await bus.connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    await exchange.publish(aio_pika.Message(body, message_id=str(uuid.uuid4())), routing_key)
    await channel.close()


async def test_poison_messages_land_in_the_dead_letters_with_their_reason(bus):
    handled = []

    async def handler(event, payload):
        if payload.reason == "refuse":
            raise Rejected("refused", "the handler said no")
        handled.append(payload.post_id)

    spec = spec_for_model(PostCancelled)
    metrics = ChassisMetrics("test")
    consumer = Consumer(bus, "publisher", {spec.type: handler}, metrics, retry_pause=0.05)
    await consumer.start()
    try:
        good = cancelled(1)
        await _publish_raw(bus, b"{not json")
        await _publish_raw(bus, json.dumps({**json.loads(good.to_json()), "type": "org.other.thing.v1", "id": "x1"}).encode())
        await _publish_raw(bus, json.dumps({**json.loads(good.to_json()), "data": {"post_id": 5}, "id": "x2"}).encode())
        refuse = spec.envelope(PostCancelled(post_id="p9", target_ids=[], reason="refuse"), source="/t", correlation_id="c")
        await _publish_raw(bus, refuse.to_json())
        # A Siar type this service has no handler for, published under the routing key of one it
        # has (a sender's mix-up): shown in the dead letters, not acknowledged and dropped.
        other = spec_for_model(PostDue).type
        await _publish_raw(bus, json.dumps({**json.loads(good.to_json()), "type": other, "id": "x3"}).encode())
        await _publish_raw(bus, good.to_json())
        dead = await _drain(bus, dead_queue_name("publisher"), 5)
    finally:
        await consumer.stop()
    reasons = sorted(m.headers["x-siar-reason"] for m in dead)
    assert reasons == ["invalid_payload", "malformed", "refused", "unexpected_type", "unknown_type"]
    by_reason = {m.headers["x-siar-reason"]: m for m in dead}
    assert "post_id" in by_reason["invalid_payload"].headers["x-siar-detail"]
    assert by_reason["malformed"].body == b"{not json"  # the original body is kept for replay
    assert by_reason["refused"].headers["x-siar-queue"] == queue_name("publisher")
    assert handled == ["p1"]  # everything else flowed


async def test_a_handler_that_keeps_failing_is_dead_lettered_by_the_delivery_limit(bus):
    calls = 0

    async def handler(event, payload):
        nonlocal calls
        calls += 1
        raise ConnectionError("database restarting")

    consumer = Consumer(bus, "publisher", {spec_for_model(PostCancelled).type: handler}, ChassisMetrics("test"),
                        retry_pause=0.01)
    await consumer.start()
    try:
        await _publish_raw(bus, cancelled(7).to_json())
        dead = await _drain(bus, dead_queue_name("publisher"), 1, timeout=20)
    finally:
        await consumer.stop()
    assert len(dead) == 1
    assert dead[0].headers["x-death"][0]["reason"] == "delivery_limit"
    assert calls >= 5


async def test_inbox_makes_a_repeated_event_change_nothing(clean_db):
    from siar_runtime.inbox import first_delivery

    event = cancelled(3)
    conn = await asyncpg.connect(clean_db, server_settings={"search_path": "publisher"})
    async with conn.transaction():
        assert await first_delivery(conn, event)
    async with conn.transaction():
        assert not await first_delivery(conn, event)
    await conn.close()
    assert datetime.now(UTC)


async def test_dead_letters_can_be_listed_and_replayed(bus):
    from siar_runtime.deadletters import peek, replay

    attempts = []

    async def handler(event, payload):
        attempts.append(payload.post_id)
        if len(attempts) <= 2:
            raise Rejected("refused", "not yet: the account was not connected")

    consumer = Consumer(bus, "publisher", {spec_for_model(PostCancelled).type: handler}, ChassisMetrics("test"),
                        retry_pause=0.01)
    await consumer.start()
    try:
        event = cancelled(11)
        await _publish_raw(bus, event.to_json())
        for _ in range(100):
            letters = await peek(bus.connection, "publisher")
            if letters:
                break
            await asyncio.sleep(0.05)
        assert [(d.reason, d.routing_key, d.origin_queue) for d in letters] == [
            ("refused", "post.cancelled", queue_name("publisher"))
        ]
        assert "not connected" in letters[0].detail
        assert len(await peek(bus.connection, "publisher")) == 1  # peeking removes nothing

        assert (await replay(bus.connection, "publisher", message_id="no-such-id")).moved == 0
        done = await replay(bus.connection, "publisher")
        assert done.moved == 1 and done.kept == []
        # Refused once more: its letter still names the event's routing key, not the queue's
        # name it came back under.
        for _ in range(100):
            again = await peek(bus.connection, "publisher")
            if again:
                break
            await asyncio.sleep(0.05)
        assert [(d.reason, d.routing_key) for d in again] == [("refused", "post.cancelled")]
        assert (await replay(bus.connection, "publisher")).moved == 1
        for _ in range(100):
            if len(attempts) == 3:
                break
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
    assert attempts == ["p11", "p11", "p11"]  # handled again, the last time successfully
    assert await peek(bus.connection, "publisher") == []


async def test_stopping_lets_the_messages_being_handled_finish_first(bus):
    """A shutdown in the middle of a handler waits for it (the database is still open then), so
    its message is acknowledged, not handed back to be handled again after the restart."""
    started, finished = asyncio.Event(), []

    async def handler(event, payload):
        started.set()
        await asyncio.sleep(0.5)
        finished.append(payload.post_id)

    consumer = Consumer(bus, "publisher", {spec_for_model(PostCancelled).type: handler}, ChassisMetrics("test"))
    await consumer.start()
    await _publish_raw(bus, cancelled(21).to_json())
    await asyncio.wait_for(started.wait(), 10)
    await consumer.stop()
    assert finished == ["p21"]
    channel = await bus.connection.channel()
    queue = await channel.declare_queue(queue_name("publisher"), passive=True)
    await channel.close()
    assert queue.declaration_result.message_count == 0  # acknowledged, not returned


async def test_stopping_waits_no_longer_than_its_grace_period(bus):
    """A handler stuck past the grace period does not hold the shutdown (its message returns to the
    queue when the connection closes)."""
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(event, payload):
        started.set()
        await release.wait()

    consumer = Consumer(bus, "publisher", {spec_for_model(PostCancelled).type: handler}, ChassisMetrics("test"))
    await consumer.start()
    await _publish_raw(bus, cancelled(22).to_json())
    await asyncio.wait_for(started.wait(), 10)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await consumer.stop(grace=0.3)
    assert 0.3 <= loop.time() - began < 2
    release.set()


async def test_a_dead_letter_sent_while_the_channel_restores_its_topology_is_kept(bus):
    # The dead-letter exchange disappears (a broker reset without its definitions): the first
    # dead letter closes the channel and fails (its message would go back to its queue). The
    # robust channel reopens and declares the exchange, then the dead-letter queues' bindings;
    # a dead letter sent in between must wait for them, not be confirmed and dropped.
    await _publish_raw(bus, b"{not json")
    [message] = await _drain(bus, queue_name("publisher"), 1)
    admin = await bus.connection.channel()
    await admin.exchange_delete(DEAD_EXCHANGE)
    with pytest.raises(aio_pika.exceptions.AMQPError):
        await bus.dead_letter(message, queue_name("publisher"), "malformed", "first")
    for _ in range(500):
        try:
            await bus.dead_letter(message, queue_name("publisher"), "malformed", "again")
            break
        except (aio_pika.exceptions.AMQPError, aio_pika.exceptions.ChannelInvalidStateError):
            await asyncio.sleep(0.01)  # closed, not yet reopening: the caller returns the message
    dead = await _drain(bus, dead_queue_name("publisher"), 1)
    assert [m.headers["x-siar-detail"] for m in dead] == ["again"]
    await admin.close()


async def test_a_dead_letter_whose_queue_was_deleted_is_kept_not_dropped(bus):
    # An operator deletes a dead-letter queue while the service runs: the robust channel would
    # declare it again only on a reconnect, so an unroutable dead letter would be confirmed and
    # dropped while its message is acknowledged. The mandatory publish comes back instead; the
    # queue is declared again and the letter lands in it.
    await _publish_raw(bus, b"{not json")
    [message] = await _drain(bus, queue_name("publisher"), 1)
    admin = await bus.connection.channel()
    await admin.queue_delete(dead_queue_name("publisher"))
    await bus.dead_letter(message, queue_name("publisher"), "malformed", "after the delete")
    dead = await _drain(bus, dead_queue_name("publisher"), 1)
    assert [m.headers["x-siar-detail"] for m in dead] == ["after the delete"]
    assert dead[0].body == b"{not json"
    await admin.close()


async def test_an_event_nobody_is_bound_to_is_still_confirmed(bus):
    # The channel raises on returns now; events are not mandatory, so one that no queue takes
    # (a routing key only an outside subscriber might bind) is confirmed, not an error.
    await bus.publish_confirmed([Outgoing(routing_key="nobody.listens", body=b"{}", event_id="e-1",
                                          event_type="siar.test.nobody", correlation_id="c-1")])
