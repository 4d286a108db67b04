"""The scheduler watching its own dispatch: how many targets are past their time and still
waiting, read from the database on a timer of its own (not by the runner it watches)."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from . import store
from .metrics import SchedulerMetrics

log = structlog.get_logger("siar.scheduler.watch")


async def read_overdue(pool: asyncpg.Pool, metrics: SchedulerMetrics, grace_seconds: float) -> tuple[int, float]:
    async with pool.acquire() as conn:
        count, oldest = await store.overdue(conn, grace_seconds)
    metrics.set_overdue(count, oldest)
    return count, oldest


async def watch_overdue(pool: asyncpg.Pool, metrics: SchedulerMetrics, *, grace_seconds: float,
                        every_seconds: float) -> None:
    """Runs until cancelled; a failed read (database away) leaves the gauges as they were."""
    while True:
        try:
            count, oldest = await read_overdue(pool, metrics, grace_seconds)
            if count:
                log.warning("targets overdue", count=count, oldest_seconds=round(oldest, 1))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("could not read overdue targets", error=str(exc))
        await asyncio.sleep(every_seconds)
