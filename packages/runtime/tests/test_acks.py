"""Acknowledging a consumer's messages together, against the real RabbitMQ: a batch goes with one
frame, a message still being handled is never acknowledged by a later one's ``multiple``, and a
message returned to the queue in between is handled again, never acknowledged by its neighbours."""

from __future__ import annotations

import asyncio

from siar_contracts import CloudEvent, queue_name
from siar_runtime.bus import Bus
from siar_runtime.consumer import Consumer
from siar_runtime.metrics import ChassisMetrics

from packages.runtime.tests.broker_kit import SPEC, cancelled, publish, until

QUEUE = queue_name("publisher")


async def _left_in_queue(bus: Bus, consumer: Consumer) -> list[str]:
    """Close the consumer's channel — the broker returns whatever it holds unacknowledged — and
    take what is in the queue then."""
    channel = consumer._queue.channel
    assert not channel.is_closed  # a wrong or repeated acknowledgement would have closed it
    await consumer.stop(grace=0)
    await channel.close()
    reader = await bus.connection.channel()
    queue = await reader.get_queue(QUEUE)
    left = []
    await asyncio.sleep(0.2)
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        left.append(SPEC.parse(CloudEvent.from_json(message.body)).post_id)
    await reader.close()
    return left


async def test_a_batch_is_acknowledged_with_one_frame(bus):
    batches: list[int] = []

    async def one(event, payload):
        raise AssertionError("the batch handler takes these")

    async def many(items):
        batches.append(len(items))

    consumer = Consumer(bus, "publisher", {SPEC.type: one}, ChassisMetrics("test"), prefetch=50,
                        batch_handlers={SPEC.type: many}, batch_linger=0.05)
    await publish(bus, [cancelled(i) for i in range(120)])
    await consumer.start()
    await until(lambda: sum(batches) == 120)
    await until(lambda: consumer._handling == 0)
    frames = consumer._acks.current.frames_sent
    assert await _left_in_queue(bus, consumer) == []  # every one acknowledged
    assert sum(batches) == 120
    assert frames <= len(batches) < 120  # one frame a batch, not one a message


async def test_a_message_still_being_handled_is_never_acknowledged_by_a_later_one(bus):
    release = asyncio.Event()
    handled: list[str] = []

    async def one(event, payload):
        if payload.post_id == "p0":
            await release.wait()  # in hand while the nine behind it finish
        handled.append(payload.post_id)

    consumer = Consumer(bus, "publisher", {SPEC.type: one}, ChassisMetrics("test"), prefetch=50)
    await publish(bus, [cancelled(i) for i in range(10)])
    await consumer.start()
    await until(lambda: len(handled) == 9)
    await until(lambda: consumer._handling == 1)
    assert sorted(handled) == [f"p{i}" for i in range(1, 10)]
    frames = consumer._acks.current.frames_sent
    left = await _left_in_queue(bus, consumer)
    release.set()
    assert left == ["p0"]  # returned by the broker: no later acknowledgement covered it
    assert 1 <= frames <= 9


async def test_a_message_returned_to_the_queue_is_handled_again_not_acknowledged_by_its_neighbours(bus):
    attempts: list[str] = []

    async def one(event, payload):
        attempts.append(payload.post_id)
        if payload.post_id == "p3" and attempts.count("p3") == 1:
            raise ConnectionError("database restarting")

    consumer = Consumer(bus, "publisher", {SPEC.type: one}, ChassisMetrics("test"), prefetch=50,
                        retry_pause=0.2)
    await publish(bus, [cancelled(i) for i in range(10)])
    await consumer.start()
    await until(lambda: len(attempts) == 11)
    await until(lambda: consumer._handling == 0)
    assert await _left_in_queue(bus, consumer) == []
    assert sorted(attempts) == sorted([f"p{i}" for i in range(10)] + ["p3"])  # p3 twice, the rest once


async def test_a_reopened_channel_starts_its_own_count(bus):
    handled: list[str] = []

    async def one(event, payload):
        handled.append(payload.post_id)

    consumer = Consumer(bus, "publisher", {SPEC.type: one}, ChassisMetrics("test"), prefetch=50)
    await consumer.start()
    await publish(bus, [cancelled(i) for i in range(5)])
    await until(lambda: len(handled) == 5)
    first = consumer._acks.current
    # The broker closes the channel (an acknowledgement of a tag it never delivered); the robust
    # connection opens it again, and the new channel's delivery tags start again from 1.
    underlay = await consumer._queue.channel.get_underlay_channel()
    await underlay.basic_ack(delivery_tag=10_000)
    await until(lambda: underlay.is_closed)
    await asyncio.sleep(0.5)
    await publish(bus, [cancelled(i) for i in range(5, 10)])
    await until(lambda: len(handled) == 10)
    await until(lambda: consumer._handling == 0)
    assert consumer._acks.current is not first
    assert await _left_in_queue(bus, consumer) == []
    assert sorted(handled) == sorted(f"p{i}" for i in range(10))


async def test_messages_finishing_in_any_order_are_each_acknowledged_once(bus):
    """Handlers finishing out of order make gaps: some messages acknowledged alone, others
    together, flushes overlapping. An acknowledgement of a tag already covered would close the
    channel; one missing would leave the message in the queue."""
    import random

    rng = random.Random(5)
    handled: list[str] = []

    async def one(event, payload):
        await asyncio.sleep(rng.random() * 0.02)
        handled.append(payload.post_id)

    consumer = Consumer(bus, "publisher", {SPEC.type: one}, ChassisMetrics("test"), prefetch=50)
    await publish(bus, [cancelled(i) for i in range(400)])
    await consumer.start()
    await until(lambda: len(handled) == 400, timeout=30)
    await until(lambda: consumer._handling == 0)
    frames = consumer._acks.current.frames_sent
    assert await _left_in_queue(bus, consumer) == []
    assert sorted(handled) == sorted(f"p{i}" for i in range(400))
    assert frames < 400
