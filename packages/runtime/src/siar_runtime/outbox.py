"""Transactional outbox: a state change and the event announcing it commit together; a relay
publishes them with publisher confirms and deletes a row only after the broker confirmed it.

A crash anywhere loses nothing; it may publish an event twice, which consumers absorb through
their inbox. Several relays (one per replica) share the table through ``FOR UPDATE SKIP LOCKED``.

Each service's first migration creates the table in its own schema::

    CREATE TABLE outbox (
        id          bigserial PRIMARY KEY,
        event_id    text NOT NULL,
        routing_key text NOT NULL,
        event_type  text NOT NULL,
        correlation_id text NOT NULL,
        body        bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
    );
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence

import asyncpg
import structlog
from siar_contracts import CloudEvent

from .bus import Bus, Outgoing
from .db import Database
from .listen import Wakeup
from .logging import describe
from .metrics import ChassisMetrics

log = structlog.get_logger("siar.outbox")


OUTBOX_COLUMNS = ("event_id", "routing_key", "event_type", "correlation_id", "body")


def notify_channel(schema: str) -> str:
    return f"{schema}_outbox"


async def write_events(conn: asyncpg.Connection, schema: str, events: Iterable[CloudEvent]) -> int:
    """Add events to the outbox inside the caller's transaction; the relay is woken on commit."""
    rows = [
        (e.id, e.short_name, e.type, e.correlationid, e.to_json())
        for e in events
    ]
    if not rows:
        return 0
    if len(rows) < 8:
        await conn.executemany(
            "INSERT INTO outbox (event_id, routing_key, event_type, correlation_id, body)"
            " VALUES ($1, $2, $3, $4, $5)",
            rows,
        )
    else:
        # Many rows (a batch of outcomes): one COPY rather than a round of INSERTs.
        await conn.copy_records_to_table("outbox", records=rows, columns=OUTBOX_COLUMNS, schema_name=schema)
    await conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))
    return len(rows)


class OutboxRelay:
    what = "outbox relay"  # in its task's name and its log lines

    def __init__(
        self,
        db: Database,
        bus: Bus,
        metrics: ChassisMetrics,
        *,
        batch: int = 500,
        poll_seconds: float = 1.0,
        windows: int = 3,
        confirm_timeout: float = 60.0,
        confirmed: Callable[[Sequence[Outgoing]], None] | None = None,
        channel: str | None = None,
    ) -> None:
        """``confirm_timeout``: how long a window waits for the broker's confirms before it is
        published again. Generous, because a window holds nothing anyone else waits for (SKIP
        LOCKED) while a timeout sends all of it again: with 10 s, an overloaded two-core machine
        (bench/steady.py at 500/s) timed out window after window and republished each, adding
        to the load that slowed the confirms. A lost connection still fails at once.
        ``confirmed`` is called with each window's events the moment the broker confirmed them
        (before their rows are deleted), for a service's own measures of its events' timeliness.
        ``channel``: the NOTIFY channel that wakes it (the schema's outbox channel unless said; a
        subclass following another table, as the metrics service's announcer, names its own)."""
        self.db = db
        self.bus = bus
        self.metrics = metrics
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.windows = max(1, windows)  # windows of ``batch`` awaiting confirms at once
        self.confirm_timeout = confirm_timeout
        self.confirmed = confirmed
        self.wakeup = Wakeup(db, channel or notify_channel(db.schema))
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called in-process right after a commit that wrote events, for the lowest latency."""
        self.wakeup.wake()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.what.replace(' ', '-')}-{self.db.schema}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.wakeup.close()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self.wakeup.ensure_listening()
                self.wakeup.event.clear()
                sent = await self.drain_once()
                failures = 0
                if sent >= self.batch:
                    continue
                await self.wakeup.wait(self.poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self.metrics.outbox_publish_errors.inc()
                await self.wakeup.close()
                log.warning(f"{self.what} could not publish; will retry", error=describe(exc),
                            failures=failures)
                await asyncio.sleep(min(5.0, 0.1 * 2 ** min(failures, 6)))

    async def drain_once(self) -> int:
        """Publish pending events window by window; returns how many were confirmed.

        A window is one transaction: ``batch`` rows locked with ``FOR UPDATE SKIP LOCKED``,
        published, and deleted in one statement once the broker confirmed every message in it.
        Up to ``windows`` windows await their confirms at once: the next one is read and sent
        while the broker is still confirming the last, and SKIP LOCKED keeps them (and other
        replicas) apart. Windows go out in id order on one channel; one that fails rolls back and
        is published again later (a repeat the consumers' inbox absorbs)."""
        loop = asyncio.get_running_loop()
        windows: list[asyncio.Task[int]] = []
        try:
            while True:
                sent: asyncio.Future[int] = loop.create_future()
                task = asyncio.create_task(self._window(sent))
                windows.append(task)
                await asyncio.wait([sent, task], return_when=asyncio.FIRST_COMPLETED)
                if not sent.done() or sent.result() < self.batch:
                    break  # the table is drained (or the window failed)
                while sum(not w.done() for w in windows) >= self.windows:
                    await asyncio.wait([w for w in windows if not w.done()], return_when=asyncio.FIRST_COMPLETED)
                if any(w.done() and not w.cancelled() and w.exception() is not None for w in windows):
                    break
            results = await asyncio.gather(*windows, return_exceptions=True)
        finally:
            for w in windows:
                w.cancel()  # no-op for finished ones; on shutdown their transactions roll back
            await asyncio.gather(*windows, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(results)

    async def _window(self, sent: asyncio.Future[int]) -> int:
        async with self.db.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, event_id, routing_key, event_type, correlation_id, body,"
                " extract(epoch FROM clock_timestamp() - created_at)::float8 AS age"
                " FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch,
            )
            if not rows:
                sent.set_result(0)
                return 0
            started = time.perf_counter()
            outgoing = [
                Outgoing(
                    routing_key=r["routing_key"],
                    body=bytes(r["body"]),
                    event_id=r["event_id"],
                    event_type=r["event_type"],
                    correlation_id=r["correlation_id"],
                )
                for r in rows
            ]
            await self.bus.publish_confirmed(outgoing, timeout=self.confirm_timeout,
                                             on_sent=lambda: sent.set_result(len(rows)))
            if self.confirmed is not None:
                try:
                    self.confirmed(outgoing)
                except Exception:  # a measure must never send the window again
                    log.exception("outbox relay: the confirmed hook failed")
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        confirm = time.perf_counter() - started
        for r in rows:
            self.metrics.events_published.labels(r["routing_key"]).inc()
            self.metrics.outbox_lag.observe(r["age"] + confirm)
        return len(rows)
