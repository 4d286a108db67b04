"""Coalesced broker writes: against a local TCP server (the writer) and the real RabbitMQ (the bus)."""

from __future__ import annotations

import asyncio
import uuid

from siar_runtime.bus import Bus, Outgoing
from siar_runtime.coalesce import CoalescingTransportFactory
from yarl import URL

from packages.runtime.tests.broker_kit import until


async def serving():
    received = bytearray()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            received.extend(chunk)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, received


async def test_what_one_pass_writes_goes_out_in_one_write_and_in_order():
    server, port, received = await serving()
    async with server:
        _, writer = await CoalescingTransportFactory().create(URL(f"amqp://127.0.0.1:{port}/"))
        for i in range(100):
            writer.write(b"%03d," % i)
        assert writer.writes == 0  # nothing is sent before the pass ends
        await asyncio.sleep(0)
        assert writer.writes == 1
        writer.write(b"last")
        await writer.drain()  # a drain sends what is kept at once
        assert writer.writes == 2
        writer.write(b"!")
        writer.close()  # so does a close
        await writer.wait_closed()
        await until(lambda: received.endswith(b"last!"))
    assert bytes(received) == b"".join(b"%03d," % i for i in range(100)) + b"last!"


async def test_a_batch_published_through_the_bus_is_few_writes_and_every_message_arrives_in_order(bus, amqp_url):
    writer = bus.connection.transport_factory.writer
    channel = await bus.connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind("siar.events", "coalesce.test")
    batch = [Outgoing("coalesce.test", b"%d" % i, str(uuid.uuid4()), "test", "c") for i in range(1500)]
    before = writer.writes
    await bus.publish_confirmed(batch)  # returns once the broker confirmed every one
    # stock aio-pika: a write per message; here the 1,500 fit the writer's queue and go out together
    assert writer.writes - before <= 10
    bodies = []
    async with queue.iterator(no_ack=True) as messages:
        async for message in messages:
            bodies.append(int(message.body))
            if len(bodies) == len(batch):
                break
    assert bodies == list(range(1500))
    await channel.close()


async def test_a_reconnected_bus_writes_through_a_new_coalescing_writer(amqp_url):
    bus = Bus(amqp_url + ("&" if "?" in amqp_url else "?") + "reconnect_interval=0.2", "test")
    await bus.connect()
    try:
        first = bus.connection.transport_factory.writer
        reconnected = asyncio.Event()
        bus.connection.reconnect_callbacks.add(lambda *_: reconnected.set())
        first.transport.abort()  # the socket is gone, as when the broker restarts
        await asyncio.wait_for(reconnected.wait(), 15)
        second = bus.connection.transport_factory.writer
        assert second is not first
        channel = await bus.connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind("siar.events", "coalesce.test")
        await bus.publish_confirmed([Outgoing("coalesce.test", b"after", str(uuid.uuid4()), "t", "c")])
        message = await queue.get(timeout=5, fail=True)
        assert message.body == b"after"
        assert second.writes > 0
        await channel.close()
    finally:
        await bus.close()

