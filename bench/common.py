"""What every benchmark needs: a fresh database, a local stack, the machine's description,
a raw-broker baseline, and resource readings of the service processes."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import platform
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import aio_pika
import aiormq
import httpx
from siar_contracts import BINDINGS, consuming_service, queue_name
from siar_devstack import Stack, fresh
from siar_devstack.fresh import Fresh
from siar_runtime.bus import Bus, Outgoing

ADMIN_DSN = os.environ.get("SIAR_BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP = os.environ.get("SIAR_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672")
TOKEN = "bench-token-00000001"
# aiormq's writer queue as shipped (only raw_broker_rate connects a Bus in this process, and puts it back)
STOCK_FRAME_BUFFER = aiormq.Connection.FRAME_BUFFER_SIZE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    rabbit = subprocess.run(["rabbitmqctl", "version"], capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}, "
            f"{pg}, RabbitMQ {rabbit or '?'}")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50), "p99": percentile(values, 99), "p99.9": percentile(values, 99.9),
        "max": max(values) if values else float("nan"), "mean": statistics.fmean(values) if values else float("nan"),
    }


@contextmanager
def fresh_environment(name: str) -> Iterator[Fresh]:
    """A database (not migrated: each benchmark migrates what it runs) and a RabbitMQ vhost of the
    benchmark's own, removed afterwards."""
    with fresh.environment(f"siar_bench_{name}", admin_dsn=ADMIN_DSN, amqp_base=AMQP, migrated=False) as env:
        yield env


def start_stack(env: Fresh, log_dir: Path, extra_env: dict[str, str] | None = None,
                services: tuple[str, ...] = ("sandbox", "scheduler", "publisher")) -> Stack:
    stack = Stack(
        database_url=env.database_url, amqp_url=env.amqp_url, log_dir=log_dir, services=services,
        ports={name: free_port() for name in services},
        extra_env={"SIAR_API_TOKENS": f"{TOKEN}:admin", "SIAR_ENVIRONMENT": "test", "SIAR_LOG_LEVEL": "warning",
                   **(extra_env or {})},
    )
    stack.migrate()
    stack.start()
    drop_unconsumed_queues(env.amqp_url, {s for s in map(consuming_service, BINDINGS) if stack.replicas(s)})
    return stack


def drop_unconsumed_queues(amqp_url: str, running: set[str]) -> list[str]:
    """Delete the queues of the Siar services this stack does not run (the services declare every
    queue, so that nothing is lost for one started later). Left in place, siar.metrics would
    collect every post.published of the run — 150,000 in the steady run, a growing quorum queue
    that a deployment, whose metrics service consumes it, never has — and the broker's growing work
    for it would be measured as the scheduler's lateness."""
    names = [queue_name(queue) for queue in BINDINGS if consuming_service(queue) not in running]

    async def drop() -> None:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            for name in names:
                await channel.queue_delete(name)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # callers may be inside an event loop
        pool.submit(asyncio.run, drop()).result()
    return names


def register_account(stack: Stack, token: str = "bench.token", rate: dict | None = None) -> dict:
    body = {"platform": "mastodon", "base_url": f"{stack.url('sandbox')}/mastodon",
            "credentials": {"access_token": token},
            "rate_limit": rate or {"limit": 1_000_000, "window_seconds": 1}}
    account = httpx.post(f"{stack.url('publisher')}/v1/accounts", json=body,
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    for _ in range(200):
        known = httpx.get(f"{stack.url('scheduler')}/v1/accounts", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        if any(a["account_id"] == account["account_id"] for a in known["accounts"]):
            return account
        time.sleep(0.05)
    raise TimeoutError("scheduler never saw the account")


def process_stats(pid: int) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    return peak, cpu


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0) / 1024


async def raw_broker_rate(amqp_url: str, body_size: int, count: int, window: int = 500,
                          beside: Callable[[str], AbstractContextManager[object]] | None = None,
                          siar_publisher: bool = False) -> float:
    """Messages a second a plain aio-pika publisher with confirms reaches on the same broker,
    with the same message size, pipelining ``window`` messages like the outbox relay does.
    ``beside(queue name)``, when given, is entered once the queue exists and left once every
    message is confirmed (bench/broker_acks.py runs a consumer of the queue in it).

    ``siar_publisher``: the same messages through the services' own publishing instead
    (``Bus.publish_confirmed`` over siar_runtime.coalesce's connection), with nothing else to do —
    what the dispatch would reach if claiming and building the events cost nothing."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange("bench.raw", aio_pika.ExchangeType.TOPIC, auto_delete=True)
    queue = await channel.declare_queue("bench.raw", arguments={"x-queue-type": "quorum"}, durable=True)
    await queue.bind(exchange, "post.due")
    body = b"x" * body_size
    bus = Bus(amqp_url, "bench-raw") if siar_publisher else None
    if bus is not None:
        await bus.connect()
        # The Bus raised aiormq's frame buffer for the process (siar_runtime.coalesce); the
        # benchmark's other connections, the stock baseline among them, stay as aio-pika ships.
        aiormq.Connection.FRAME_BUFFER_SIZE = STOCK_FRAME_BUFFER
    with beside(queue.name) if beside is not None else contextlib.nullcontext():
        started = time.perf_counter()
        for start in range(0, count, window):
            n = min(window, count - start)
            if bus is not None:
                await bus.publish_confirmed(
                    [Outgoing("post.due", body, str(uuid.uuid4()), "bench.raw", "bench") for _ in range(n)],
                    exchange="bench.raw",
                )
                continue
            await asyncio.gather(*(
                exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                                  message_id=str(uuid.uuid4())), "post.due")
                for _ in range(n)
            ))
        elapsed = time.perf_counter() - started
    if bus is not None:
        await bus.close()
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    return count / elapsed
