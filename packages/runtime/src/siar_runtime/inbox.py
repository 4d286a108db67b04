"""Inbox deduplication: a consumer records ``(source, id)`` of each event in the same
transaction as its effects, so a redelivered or republished event changes nothing.

Each consuming service's first migration creates::

    CREATE TABLE inbox (
        source      text NOT NULL,
        event_id    text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (source, event_id)
    );
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import asyncpg
import structlog
from siar_contracts import CloudEvent

log = structlog.get_logger("siar.inbox")


async def first_delivery(conn: asyncpg.Connection, event: CloudEvent) -> bool:
    """True the first time this event is seen; must run inside the handler's transaction."""
    inserted = await conn.fetchval(
        "INSERT INTO inbox (source, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        event.source,
        event.id,
    )
    return inserted is not None


async def first_deliveries(conn: asyncpg.Connection, events: Sequence[CloudEvent]) -> list[CloudEvent]:
    """The events seen here for the first time, in their order and each once (a batch may hold
    the same event twice); one statement, inside the batch handler's transaction."""
    fresh = await conn.fetch(
        "INSERT INTO inbox (source, event_id) SELECT * FROM unnest($1::text[], $2::text[])"
        " ON CONFLICT DO NOTHING RETURNING source, event_id",
        [e.source for e in events],
        [e.id for e in events],
    )
    keys = {(r["source"], r["event_id"]) for r in fresh}
    first = []
    for e in events:
        if (e.source, e.id) in keys:
            keys.discard((e.source, e.id))
            first.append(e)
    return first


async def prune(conn: asyncpg.Connection, keep_days: int = 30) -> int:
    """Forget events older than any redelivery could be (the broker keeps nothing that long: a
    dead letter was never recorded here, its handler's transaction having rolled back)."""
    status = await conn.execute(
        "DELETE FROM inbox WHERE received_at < now() - make_interval(days => $1)", keep_days
    )
    return int(status.split()[-1])


class Pruner:
    """Keeps the inbox from growing forever: every ``every_seconds`` (first a minute after the
    start) the events older than ``keep_days`` are forgotten (``SIAR_INBOX_KEEP_DAYS``)."""

    def __init__(self, pool: asyncpg.Pool, keep_days: int, every_seconds: float = 3600.0,
                 first_after_seconds: float = 60.0) -> None:  # fmt: skip
        self.pool = pool
        self.keep_days = keep_days
        self.every_seconds = every_seconds
        self.first_after_seconds = first_after_seconds
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbox-pruner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await asyncio.sleep(self.first_after_seconds)
        while True:
            try:
                async with self.pool.acquire() as conn:
                    forgotten = await prune(conn, self.keep_days)
                if forgotten:
                    log.info("inbox pruned", forgotten=forgotten, keep_days=self.keep_days)
            except Exception as exc:  # the database may be away; the next round tries again
                log.warning("inbox not pruned; trying again later", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.every_seconds)
