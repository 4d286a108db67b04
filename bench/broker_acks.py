"""What a consumer on the same quorum queue costs the raw publisher, and whether acknowledging
with one ``multiple`` ack instead of one ack per message gives it back.

bench/burst.py's raw baseline (:func:`bench.common.raw_broker_rate`: confirms, windows of 500,
594-byte persistent messages into a quorum queue) sends N messages (a) with no consumer, (b) while
another process consumes the queue (prefetch 64, like the services) acknowledging each message,
(c) the same acknowledging everything received in one event-loop pass with one ``multiple`` ack.
Prints the publisher's rate for each, in the order given.

    uv run python -m bench.broker_acks [none single multiple …]"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import aio_pika

from .common import AMQP, machine, raw_broker_rate

N = 20_000
BODY_BYTES = 594
MODES = ("none", "single", "multiple")


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


def consumer(mode: str):
    """A consumer of the raw baseline's queue in a process of its own, for as long as it publishes."""
    @contextmanager
    def beside(queue: str) -> Iterator[None]:
        ready = multiprocessing.Event()
        process = multiprocessing.Process(target=consume, args=(queue, mode, ready, AMQP))
        process.start()
        ready.wait(30)
        try:
            yield
        finally:
            process.join(300)

    return beside


def main() -> None:
    modes = sys.argv[1:] or list(MODES)
    unknown = set(modes) - set(MODES)
    if unknown:
        sys.exit(f"unknown mode(s) {sorted(unknown)}: none, single or multiple")
    print(f"machine: {machine()}\ncommand: python -m bench.broker_acks {' '.join(modes)}")
    for mode in modes:
        rate = asyncio.run(raw_broker_rate(AMQP, BODY_BYTES, N, beside=None if mode == "none" else consumer(mode)))
        print(f"{mode:>9}: {rate:,.0f} published/s")


if __name__ == "__main__":
    main()
