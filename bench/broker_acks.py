"""What a consumer on the same quorum queue costs the raw publisher, and whether acknowledging
with one ``multiple`` ack instead of one ack per message gives it back.

bench/burst.py's raw baseline (:func:`bench.common.raw_broker_rate`: confirms, windows of 500,
594-byte persistent messages into a quorum queue) sends N messages (a) with no consumer, (b) while
another process consumes the queue (prefetch 64, like the services) acknowledging each message,
(c) the same acknowledging everything received in one event-loop pass with one ``multiple`` ack.
Prints the publisher's rate for each, in the order given. Then, for ``single`` and ``multiple``,
what draining N messages already in the queue costs the broker itself: its CPU seconds (from
/proc, when RabbitMQ runs on this machine) per message consumed — the work an acknowledgement
makes a quorum queue do, which the publisher's rate beside it hides in the run-to-run spread.

    uv run python -m bench.broker_acks [none single multiple …]"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import aio_pika

from .common import AMQP, machine, process_stats, raw_broker_rate

N = 20_000
BODY_BYTES = 594
MODES = ("none", "single", "multiple")


class Acknowledging:
    """A consumer callback taking N messages, acknowledging each (``single``) or everything
    received in one event-loop pass with one ``multiple`` ack; counts its acknowledgement frames."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.received = 0
        self.frames = 0
        self.unacked: list[aio_pika.abc.AbstractIncomingMessage] = []
        self.done = asyncio.Event()

    def _flush(self) -> None:
        last, self.unacked = self.unacked[-1], []
        self.frames += 1
        asyncio.ensure_future(last.ack(multiple=True))

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.received += 1
        if self.mode == "single":
            self.frames += 1
            await message.ack()
        else:
            if not self.unacked:
                asyncio.get_running_loop().call_soon(self._flush)
            self.unacked.append(message)
        if self.received >= N:
            self.done.set()


def consume(queue: str, mode: str, ready, url: str) -> None:
    async def main() -> None:
        connection = await aio_pika.connect(url)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=64)
        source = await channel.get_queue(queue)
        acknowledging = Acknowledging(mode)
        await source.consume(acknowledging.on_message)
        ready.set()
        await asyncio.wait_for(acknowledging.done.wait(), 300)
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


def broker_pid() -> int | None:
    """RabbitMQ's Erlang VM on this machine, if it runs here."""
    found = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()
    return int(found[0]) if found else None


async def drain_cost(mode: str, pid: int, prefetch: int = 64) -> tuple[float, float, int]:
    """(broker CPU µs per message, seconds, acknowledgement frames) to consume N messages already
    in a quorum queue, acknowledging each (``single``) or all received in one event-loop pass
    together."""
    connection = await aio_pika.connect(AMQP)
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue("bench.drain", durable=True, arguments={"x-queue-type": "quorum"})
    await queue.purge()
    body = b"x" * BODY_BYTES
    for start in range(0, N, 500):
        await asyncio.gather(*(channel.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), queue.name)
            for _ in range(min(500, N - start))))
    await asyncio.sleep(1)  # let the broker settle the writes before its CPU is read
    consuming = await connection.channel()
    await consuming.set_qos(prefetch_count=prefetch)
    source = await consuming.get_queue(queue.name)
    acknowledging = Acknowledging(mode)
    cpu_before = process_stats(pid)[1]
    started = time.perf_counter()
    tag = await source.consume(acknowledging.on_message)
    await asyncio.wait_for(acknowledging.done.wait(), 300)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)  # the last acknowledgements
    cpu = process_stats(pid)[1] - cpu_before
    await source.cancel(tag)
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    return cpu / N * 1e6, elapsed, acknowledging.frames


def main() -> None:
    modes = sys.argv[1:] or list(MODES)
    unknown = set(modes) - set(MODES)
    if unknown:
        sys.exit(f"unknown mode(s) {sorted(unknown)}: none, single or multiple")
    print(f"machine: {machine()}\ncommand: python -m bench.broker_acks {' '.join(modes)}")
    for mode in modes:
        rate = asyncio.run(raw_broker_rate(AMQP, BODY_BYTES, N, beside=None if mode == "none" else consumer(mode)))
        print(f"{mode:>9}: {rate:,.0f} published/s")
    pid = broker_pid()
    if pid is None or not os.access(f"/proc/{pid}/stat", os.R_OK):
        print("draining: RabbitMQ does not run on this machine; its CPU cannot be read")
        return
    for mode in [m for m in modes if m != "none"]:
        cpu, seconds, frames = asyncio.run(drain_cost(mode, pid))
        print(f"{mode:>9}: draining {N:,} costs the broker {cpu:.0f} µs of CPU a message "
              f"({seconds:.2f} s, {N / frames:.1f} messages an acknowledgement)")


if __name__ == "__main__":
    main()
