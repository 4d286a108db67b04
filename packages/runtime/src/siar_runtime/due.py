"""Rows that become due at a time: one mechanism for posts due, delivery retries and, later,
insight collection.

A :class:`DueRunner` sleeps exactly until the earliest due row (asked of the database, so the
database clock is the only clock), is woken early by NOTIFY when an earlier row arrives from any
replica, and sweeps every ``sweep_seconds`` regardless. When rows are due it calls ``claim``
repeatedly — each call claims one batch with ``FOR UPDATE SKIP LOCKED`` and handles it in one
transaction — until a call returns fewer rows than a full batch. Replicas therefore never take
the same row, and a burst of thousands due in one second goes out in batches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog

from .db import Database
from .listen import Wakeup
from .logging import describe

log = structlog.get_logger("siar.due")

Claim = Callable[[asyncpg.Connection, int], Awaitable[Sequence[Any]]]
"""Claims (and may handle) up to ``limit`` due rows inside the given transaction; returns them."""


class DueRunner:
    def __init__(
        self,
        db: Database,
        *,
        name: str,
        channel: str,
        seconds_until_next_sql: str,
        claim: Claim,
        batch: int = 500,
        sweep_seconds: float = 5.0,
        after_commit: Callable[[Sequence[Any]], None] | None = None,
        parallel: int = 1,
    ) -> None:
        """``parallel``: when a claim comes back full (a burst), that many claims run at once
        until one comes back short — SKIP LOCKED keeps them apart. Worth it where a claim waits
        on something outside the database (the scheduler's claim awaits the broker's confirms)."""
        self.db = db
        self.name = name
        self.seconds_until_next_sql = seconds_until_next_sql
        self.claim = claim
        self.batch = batch
        self.sweep_seconds = sweep_seconds
        self.after_commit = after_commit
        self.parallel = max(1, parallel)
        self.wakeup = Wakeup(db, channel)
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self.wakeup.wake()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"due-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.wakeup.close()

    async def run_once(self) -> int:
        """Claim and handle everything due now; returns the number of rows handled."""
        total = await self._claim_batch()
        if total < self.batch:
            return total
        if self.parallel == 1:
            return total + await self._claim_until_short()
        async with asyncio.TaskGroup() as group:
            claims = [group.create_task(self._claim_until_short()) for _ in range(self.parallel)]
        return total + sum(c.result() for c in claims)

    async def _claim_batch(self) -> int:
        async with self.db.pool.acquire() as conn, conn.transaction():
            rows = await self.claim(conn, self.batch)
        if rows and self.after_commit is not None:
            self.after_commit(rows)
        return len(rows)

    async def _claim_until_short(self) -> int:
        total = 0
        while True:
            claimed = await self._claim_batch()
            total += claimed
            if claimed < self.batch:
                return total

    async def seconds_until_next(self) -> float | None:
        async with self.db.pool.acquire() as conn:
            # Prepared afresh, not taken from the connection's statement cache: a statement
            # without parameters keeps the plan made at its first run for as long as the
            # connection lives (until an ANALYZE invalidates it), and one first run on an empty
            # table went on reading the whole table once it held a million rows — 0.96 s per
            # pass, so every post waited for the next NOTIFY instead of its own time
            # (bench/future.py; docs/benchmarks.md). Planning it each time costs ~0.1 ms.
            statement = await conn.prepare(self.seconds_until_next_sql)
            value = await statement.fetchval()
        return None if value is None else float(value)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self.wakeup.ensure_listening()
                self.wakeup.event.clear()
                await self.run_once()
                delay = await self.seconds_until_next()
                failures = 0
                if delay is None:
                    timeout = self.sweep_seconds
                else:
                    # Rows still due after a pass are held by another replica (SKIP LOCKED):
                    # look again shortly instead of spinning.
                    timeout = min(max(delay, 0.01), self.sweep_seconds)
                await self.wakeup.wait(timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                await self.wakeup.close()
                log.warning("due runner failed; will retry", runner=self.name, error=describe(exc), failures=failures)
                await asyncio.sleep(min(5.0, 0.1 * 2 ** min(failures, 6)))
