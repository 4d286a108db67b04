"""The overdue gauge: a scheduler that is up but not dispatching shows in its own metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics
from siar_scheduler import posts, store
from siar_scheduler.metrics import SchedulerMetrics
from siar_scheduler.schemas import MediaIn
from siar_scheduler.watch import read_overdue


async def _schedule(db: Database, when: datetime, n: int = 1) -> None:
    async with db.pool.acquire() as conn, conn.transaction():
        for i in range(n):
            await store.insert_post(
                conn, post_id=uuid.uuid4(), text=f"late {i}", media=[MediaIn(url="https://e.org/a.png", alt_text="a")],
                title=None, scheduled_at=when, timezone=None, correlation_id=str(uuid.uuid4()),
                idempotency_key=None, created_by="test", targets=[(uuid.uuid4(), "acct-m", "mastodon")],
            )


def _gauge(metrics: SchedulerMetrics, name: str) -> float:
    for line in generate_latest(metrics.chassis.registry).decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


async def test_targets_past_their_time_count_as_overdue_until_dispatched(clean_db):
    db = await Database.open(clean_db, "scheduler", max_size=2)
    metrics = SchedulerMetrics(ChassisMetrics("scheduler-watch-test"))
    try:
        await _schedule(db, datetime.now(UTC) + timedelta(hours=1))  # future: never overdue
        await _schedule(db, datetime.now(UTC) - timedelta(seconds=10))  # within the grace
        assert await read_overdue(db.pool, metrics, grace_seconds=30) == (0, 0)
        await _schedule(db, datetime.now(UTC) - timedelta(minutes=5), n=2)  # nobody dispatched them
        count, oldest = await read_overdue(db.pool, metrics, grace_seconds=30)
        assert count == 2 and 299 < oldest < 330
        assert _gauge(metrics, "siar_scheduler_targets_overdue") == 2
        assert 299 < _gauge(metrics, "siar_scheduler_overdue_oldest_seconds") < 330
        async with db.pool.acquire() as conn, conn.transaction():
            dispatched = await posts.dispatch_due(conn, 100)
        assert len(dispatched) == 3  # the two overdue ones and the one within the grace
        assert await read_overdue(db.pool, metrics, grace_seconds=30) == (0, 0)
        assert _gauge(metrics, "siar_scheduler_targets_overdue") == 0
    finally:
        await db.close()
