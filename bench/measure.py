"""What the steady, precision and future runs observe from outside the services: an independent
subscriber on post.due, the broker's queue depths, the service processes' resources, and posts
written straight into the scheduler's tables ahead of their time."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import asyncpg
from prometheus_client.parser import text_string_to_metric_families
from siar_contracts import BINDINGS, queue_name
from siar_devstack import Stack
from siar_runtime.serve import settle_heap

from .common import process_stats


class DueTap:
    """A queue of its own bound to ``post.due``: when each target's post.due reached the broker's
    consumers. Lateness is the receive time here minus the target's due time — an upper bound of
    the broker-confirmed time (the outbox deletes a row at the confirm and keeps no timestamp), by
    the one hop from the broker to this process."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.arrivals: dict[str, tuple[float, float]] = {}  # target_id: (received, due) epoch seconds
        self.repeats = 0
        self._waiting: tuple[int, asyncio.Event] | None = None

    async def start(self) -> None:
        # The instrument's own full garbage collections (up to 100 ms here, walking the stack's
        # and the benchmark's objects) would be measured as Siar's lateness: freeze what exists
        # now, as the services do after their start (siar_runtime.serve).
        settle_heap()
        self.connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=2000)
        exchange = await channel.get_exchange("siar.events")
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, "post.due")
        await queue.consume(self._on_due)

    async def _on_due(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        received = time.time()
        data = json.loads(message.body)["data"]
        if data["target_id"] in self.arrivals:
            self.repeats += 1  # the outbox may publish twice after a crash; count, do not measure
        else:
            self.arrivals[data["target_id"]] = (received, datetime.fromisoformat(data["due_at"]).timestamp())
        await message.ack()
        if self._waiting and len(self.arrivals) >= self._waiting[0]:
            self._waiting[1].set()

    async def wait_for(self, n: int, timeout: float) -> bool:
        """Until n distinct targets arrived or the timeout; True if they all did."""
        if len(self.arrivals) >= n:
            return True
        self._waiting = (n, asyncio.Event())
        try:
            await asyncio.wait_for(self._waiting[1].wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiting = None

    def lateness(self) -> list[float]:
        return [received - due for received, due in self.arrivals.values()]

    def early(self) -> int:
        """post.due that arrived before their time (future-dated events in the broker)."""
        return sum(1 for received, due in self.arrivals.values() if received < due)

    async def close(self) -> None:
        await self.connection.close()


async def queue_depths(amqp_url: str) -> dict[str, int]:
    """Ready messages in every Siar queue, by its key in BINDINGS (passive declare: creates nothing)."""
    depths: dict[str, int] = {}
    connection = await aio_pika.connect(amqp_url)
    try:
        for key in BINDINGS:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(queue_name(key), passive=True)
                depths[key] = queue.declaration_result.message_count or 0
            except aio_pika.exceptions.ChannelClosed:
                pass  # not declared in this vhost
            else:
                await channel.close()
    finally:
        await connection.close()
    return depths


class Resources:
    """Peak RSS and CPU seconds of each service process, CPU counted from ``mark()``."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.cpu_at_mark: dict[str, float] = {}

    def mark(self) -> None:
        self.cpu_at_mark = {name: process_stats(s.process.pid)[1] for name, s in self.stack.services.items()}

    def report(self, posts: dict[str, int] | int) -> dict[str, dict[str, float]]:
        """Per service: peak RSS (MB, since start) and CPU seconds per 1,000 posts since the mark;
        ``posts`` is one count for all, or per service (what each one handled)."""
        out = {}
        for name, s in self.stack.services.items():
            peak, cpu = process_stats(s.process.pid)
            n = posts if isinstance(posts, int) else posts.get(name, 0)
            out[name] = {"peak_rss_mb": round(peak, 1),
                         "cpu_s_per_1000": round((cpu - self.cpu_at_mark.get(name, 0.0)) / n * 1000, 3) if n else None}
        return out


async def copy_posts(conn: asyncpg.Connection, account_id: str, due_times: list[datetime], text: str) -> None:
    """Posts with one approved Mastodon target each, straight into the scheduler's tables (what is
    measured is the dispatch, not the API), then the NOTIFY the API sends after an insert."""
    posts, targets = [], []
    for i, due in enumerate(due_times):
        post_id = uuid.uuid4()
        posts.append((post_id, f"{text} {i}", "[]", due, str(uuid.uuid4())))
        targets.append((uuid.uuid4(), post_id, account_id, "mastodon", due))
    async with conn.transaction():
        await conn.copy_records_to_table(
            "posts", schema_name="scheduler", records=posts,
            columns=["post_id", "text", "media", "scheduled_at", "correlation_id"])
        await conn.copy_records_to_table(
            "targets", schema_name="scheduler", records=targets,
            columns=["target_id", "post_id", "account_id", "platform", "due_at"])
    await conn.execute("NOTIFY scheduler_due")


async def sandbox_total(client) -> int:
    return (await client.get("/_sandbox/stats")).json()["posts"]["total"]


def epoch(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


async def lateness_shares(client, metric: str = "siar_scheduler_dispatch_lateness_seconds") -> dict[str, float]:
    """From the scheduler's own /metrics: the share of targets within each bucket of a lateness
    histogram — siar_scheduler_dispatch_lateness_seconds (due time to claim, to tell the claim's
    part of the lateness from the outbox relay's and the broker's) or
    siar_scheduler_due_confirmed_seconds (due time to the broker's confirm: the lateness as the
    issue defines it, with no subscriber in between, at the histogram's resolution)."""
    text = (await client.get("/metrics")).text
    buckets: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == metric:
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    buckets[sample.labels["le"]] = buckets.get(sample.labels["le"], 0) + sample.value
    total = buckets.pop("+Inf", 0)
    return {le: round(count / total, 4) for le, count in buckets.items()} if total else {}


CONFIRMED = "siar_scheduler_due_confirmed_seconds"


def log_warnings(log_dir: Path, limit: int = 5) -> dict[str, dict[str, int]]:
    """The warnings and errors each service logged during the run, by message (the logs live in
    a temporary directory that goes with the run): a runner backing off after failures shows
    here, where the lateness alone would not say why."""
    found: dict[str, Counter] = {}
    for path in sorted(log_dir.glob("*.log")):
        counts: Counter = Counter()
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if "Traceback" in line or "Error" in line:
                    counts[line.strip()[:120]] += 1
                continue
            if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
                counts[str(entry.get("event"))[:120]] += 1
        if counts:
            found[path.stem] = dict(counts.most_common(limit))
    return found
