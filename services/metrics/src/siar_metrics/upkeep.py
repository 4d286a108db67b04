"""Periodic upkeep: the Prometheus gauges refreshed from the database, and the retention of
samples (when the library set one)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
import structlog
from siar_runtime.logging import describe

from . import store
from .metrics import MetricsMetrics

log = structlog.get_logger("siar.metrics.upkeep")
PRUNE_EVERY_SECONDS = 3600
# Each stored batch wakes the gauges, so that they follow new readings; under a flood of answers
# that would run the gauges' queries (a report over the window, the events waiting) back to back
# beside the ingest. Woken, they wait until this long after the last refresh.
WOKEN_AT_MOST_EVERY_SECONDS = 1.0


class Upkeep:
    def __init__(self, pool: asyncpg.Pool, metrics: MetricsMetrics, *, refresh_seconds: float, window_days: int,
                 campaign_labels: int, retention_days: int) -> None:
        self.pool = pool
        self.metrics = metrics
        self.refresh_seconds = refresh_seconds
        self.window_days = window_days
        self.campaign_labels = campaign_labels
        self.retention_days = retention_days
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._pruned_at = float("-inf")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="metrics-upkeep")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def refresh(self) -> None:
        async with self.pool.acquire() as conn:
            platforms = await store.platform_times(conn)
            engagement, followers = await store.gauge_rows(conn, self.window_days)
            waiting = await store.events_waiting(conn)
        self.metrics.refresh(platforms, engagement, followers, self.campaign_labels, waiting)

    async def prune(self) -> None:
        if not self.retention_days:
            return
        async with self.pool.acquire() as conn:
            samples, collections = await store.prune(conn, self.retention_days)
        if samples or collections:
            log.info("retention: old samples deleted", samples=samples, collections=collections,
                     older_than_days=self.retention_days)

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
                if time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
                    self._pruned_at = time.monotonic()
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("upkeep failed; will retry", error=describe(exc))
            refreshed = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh_seconds)
            await asyncio.sleep(min(self.refresh_seconds, WOKEN_AT_MOST_EVERY_SECONDS) - (time.monotonic() - refreshed))
            self._wake.clear()
