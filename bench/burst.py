"""Burst: N targets due in the same second (default 20,000).

Measures the time until every post.due was confirmed by the broker and until every post is
accepted by the sandbox, and the dispatch rate as a ratio of the raw limit measured in the same
run: a plain aio-pika publisher with confirms to the same broker, same message size, into a
quorum queue like the publisher's. The same messages published by the services' own
publishing code alone (Bus.publish_confirmed over siar_runtime.coalesce's connection) are
measured beside it and the ratio to them printed too: the services publish a batch faster than
stock aio-pika does, and that reading shows what the dispatch costs beyond publishing.

Confirmed: in a burst the scheduler commits a claim only once the broker confirmed its post.due
(it publishes from the claiming transaction); a short claim's post.due goes through the outbox,
whose row is deleted once confirmed. So the moment no target is left 'scheduled' and the outbox
is empty is the moment the last post.due was confirmed; the benchmark polls for it every 25 ms.
An independent subscriber on post.due also times each arrival (the lateness, and the Celery
comparison, which has no such table): an upper bound, one broker-to-consumer hop later and
slowed by the subscriber itself, which shares the two cores: a quarter of a core and the broker's
deliveries to it (docs/benchmarks.md). ``--no-tap`` leaves it out after the warm-up post, for the
confirmed time without that load; the arrival-based figures are then NaN.

    uv run python -m bench.burst [N] [--no-tap]"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import asyncpg
import httpx

from .common import (
    fresh_environment,
    machine,
    process_stats,
    raw_broker_rate,
    register_account,
    start_stack,
    summary,
)


async def copy_posts(database_url: str, account: dict, n: int, due: datetime) -> None:
    """Schedule n posts straight into the scheduler's tables (the API path is not what is measured)."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "scheduler"})
    posts, targets = [], []
    for i in range(n):
        pid = uuid.uuid4()
        posts.append((pid, f"Burst post {i}", "[]", due, str(uuid.uuid4())))
        targets.append((uuid.uuid4(), pid, account["account_id"], "mastodon", due))
    await conn.copy_records_to_table("posts", records=posts, columns=["post_id", "text", "media", "scheduled_at", "correlation_id"])
    await conn.copy_records_to_table("targets", records=targets, columns=["target_id", "post_id", "account_id", "platform", "due_at"])
    await conn.execute("NOTIFY scheduler_due")
    await conn.close()


async def wait_confirmed(database_url: str, timeout: float = 600) -> float:
    """When no target was left 'scheduled' and no post.due waited in the outbox."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "scheduler"})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await conn.fetchval("SELECT EXISTS (SELECT FROM targets WHERE status = 'scheduled')"
                                       " OR EXISTS (SELECT FROM outbox WHERE routing_key = 'post.due')"):
                return time.time()
            await asyncio.sleep(0.025)
    finally:
        await conn.close()
    raise TimeoutError("targets still scheduled")


async def wait_accepted(stack, total: int, timeout: float = 1800) -> float:
    """When the sandbox had accepted ``total`` posts in all."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=stack.url("sandbox")) as sandbox:
        while time.monotonic() < deadline:
            if (await sandbox.get("/_sandbox/stats")).json()["posts"]["total"] >= total:
                return time.time()
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the sandbox never had {total} posts")


async def run(n: int = 20_000, with_tap: bool = True) -> dict:
    with fresh_environment("burst") as env, tempfile.TemporaryDirectory() as logs:
        stack = start_stack(env, Path(logs), {"SIAR_CONCURRENCY": "128", "SIAR_DB_POOL_MAX": "20"})
        try:
            account = register_account(stack)
            connection = await aio_pika.connect_robust(env.amqp_url)
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=2000)
            exchange = await channel.get_exchange("siar.events")
            tap = await channel.declare_queue(exclusive=True)
            await tap.bind(exchange, "post.due")
            arrivals: list[float] = []
            sizes: list[int] = []
            arrivals_expected = []  # empty while the warm-up post is awaited
            done = asyncio.Event()

            async def on_due(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                arrivals.append(time.time())
                if not sizes:
                    sizes.append(len(message.body))
                if len(arrivals) >= (n if arrivals_expected else 1):
                    done.set()

            tag = await tap.consume(on_due, no_ack=True)
            # One post first: it warms the path (first claim, first delivery) and tells the
            # message size for the raw baseline, measured right before the burst (idle) and again
            # as soon as the last post.due arrived (while the publisher still works through them,
            # as it did during the dispatch); the ratio is against their mean, and both are kept.
            await copy_posts(env.database_url, account, 1, datetime.now(UTC))
            await asyncio.wait_for(done.wait(), 60)
            await wait_accepted(stack, 1)
            arrivals.clear()
            arrivals_expected.append(n)
            done.clear()
            if not with_tap:
                await tap.cancel(tag)
                await tap.delete(if_unused=False, if_empty=False)
            raw_before = await raw_broker_rate(env.amqp_url, sizes[0], n)
            raw_siar_before = await raw_broker_rate(env.amqp_url, sizes[0], n, siar_publisher=True)
            before = {name: process_stats(s.process.pid) for name, s in stack.services.items()}
            due = datetime.now(UTC) + timedelta(seconds=8)
            await copy_posts(env.database_url, account, n, due)
            confirmed = await wait_confirmed(env.database_url) - due.timestamp()
            if with_tap:
                await asyncio.wait_for(done.wait(), 600)
            dispatched = max(arrivals) - due.timestamp() if arrivals else float("nan")
            raw_after = await raw_broker_rate(env.amqp_url, sizes[0], n)
            raw_siar_after = await raw_broker_rate(env.amqp_url, sizes[0], n, siar_publisher=True)
            accepted_at = await wait_accepted(stack, n + 1)
            async with httpx.AsyncClient(base_url=stack.url("sandbox")) as sandbox:
                posts = (await sandbox.get("/_sandbox/stats")).json()["posts"]["total"] - 1  # less the warm-up
            after = {name: process_stats(s.process.pid) for name, s in stack.services.items()}
            await connection.close()
            raw = (raw_before + raw_after) / 2
            raw_siar = (raw_siar_before + raw_siar_after) / 2
            lateness = [a - due.timestamp() for a in arrivals]
            rate = n / max(dispatched, 1e-9)
            confirmed_rate = n / max(confirmed, 1e-9)
            return {
                "n": n, "message_bytes": sizes[0],
                "confirmed_seconds": confirmed, "confirmed_rate": confirmed_rate, "raw_rate": raw,
                "ratio": confirmed_rate / raw,
                "dispatch_seconds": dispatched, "dispatch_rate": rate, "ratio_by_arrival": rate / raw,
                "raw_rate_before": raw_before, "raw_rate_after": raw_after,
                "ratio_to_idle_raw": confirmed_rate / raw_before,
                "raw_siar_before": raw_siar_before, "raw_siar_after": raw_siar_after,
                "ratio_to_raw_siar": confirmed_rate / raw_siar,
                "accepted_seconds": accepted_at - due.timestamp(), "sandbox_posts": posts,
                "lateness": summary(lateness),
                "resources": {name: {"peak_rss_mb": after[name][0],
                                     "cpu_s_per_1000": (after[name][1] - before[name][1]) / n * 1000}
                              for name in after},
            }
        finally:
            stack.stop()


def main() -> None:
    numbers = [a for a in sys.argv[1:] if not a.startswith("--")]
    result = asyncio.run(run(int(numbers[0]) if numbers else 20_000, with_tap="--no-tap" not in sys.argv))
    print(f"machine: {machine()}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
