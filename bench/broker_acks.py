"""What a consumer on the same quorum queue costs the raw publisher, and whether acknowledging
with one ``multiple`` ack instead of one ack per message gives it back.

A plain aio-pika publisher with confirms (windows of 500, 594-byte persistent messages, as in
bench/burst.py's raw baseline) sends N messages into a fresh quorum queue, (a) with no consumer,
(b) while another process consumes the queue (prefetch 64, like the services) acknowledging each
message, (c) the same acknowledging everything received in one event-loop pass with one
``multiple`` ack. Prints the publisher's rate for each, in the order given.

    uv run python -m bench.broker_acks [none single multiple …]"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
import uuid

import aio_pika

from .common import AMQP, machine

N = 20_000
BODY = b"x" * 594


def consume(queue: str, mode: str, ready, url: str) -> None:
    async def main() -> None:
        connection = await aio_pika.connect(url)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=64)
        source = await channel.get_queue(queue)
        received, unacked, done = 0, [], asyncio.Event()
        flush_planned = False

        def flush() -> None:
            nonlocal flush_planned, unacked
            flush_planned = False
            last, unacked = unacked[-1], []
            asyncio.ensure_future(last.ack(multiple=True))

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received, flush_planned
            received += 1
            if mode == "single":
                await message.ack()
            else:
                unacked.append(message)
                if not flush_planned:
                    flush_planned = True
                    asyncio.get_running_loop().call_soon(flush)
            if received >= N:
                done.set()

        await source.consume(on_message)
        ready.set()
        await asyncio.wait_for(done.wait(), 300)
        await asyncio.sleep(0.5)  # the last acks
        await connection.close()

    asyncio.run(main())


async def publish_rate(mode: str, url: str) -> float:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange("bench.acks", aio_pika.ExchangeType.TOPIC, auto_delete=True)
    queue = await channel.declare_queue(f"bench.acks.{uuid.uuid4().hex[:8]}", durable=True,
                                        arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, "k")
    consumer = None
    if mode != "none":
        ready = multiprocessing.Event()
        consumer = multiprocessing.Process(target=consume, args=(queue.name, mode, ready, url))
        consumer.start()
        ready.wait(30)
    started = time.perf_counter()
    for _ in range(0, N, 500):
        await asyncio.gather(*(exchange.publish(aio_pika.Message(BODY, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                                "k") for _ in range(500)))
    rate = N / (time.perf_counter() - started)
    if consumer is not None:
        consumer.join(300)
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    return rate


def main() -> None:
    modes = sys.argv[1:] or ["none", "single", "multiple"]
    unknown = set(modes) - {"none", "single", "multiple"}
    if unknown:
        sys.exit(f"unknown mode(s) {sorted(unknown)}: none, single or multiple")
    print(f"machine: {machine()}\ncommand: python -m bench.broker_acks {' '.join(modes)}")
    for mode in modes:
        print(f"{mode:>9}: {asyncio.run(publish_rate(mode, AMQP)):,.0f} published/s")


if __name__ == "__main__":
    main()
