"""Large future schedule: ROWS posts (default 1,000,000, one target each) due at random times over
the coming year, written straight into the scheduler's tables (COPY, as burst.py does), then the
stack runs for SECONDS (default 90) with a trickle of TRICKLE posts a second due now, so the
scheduler keeps sleeping, waking and claiming on top of the large schedule.

    uv run python -m bench.future [ROWS] [SECONDS] [TRICKLE]

Measured:
- the scheduler's RSS, sampled every second from before the load to the end (flat, < 150 MB);
- the claim statement's time: the scheduler's own ``store.claim_due`` (imported, so it is the exact
  statement and parameters the DueRunner sends, batch 500), run every half second on a connection
  of the benchmark's own inside a transaction that is rolled back, against the full table; and the
  "next due" query the runner asks after every pass. pg_stat_statements would be the more direct
  reading but needs shared_preload_libraries (a server restart), and the scheduler exports no claim
  timing; EXPLAIN ANALYZE of the same statement is kept with the result;
- nothing future-dated held anywhere: the broker's queue depths sampled every second, every
  post.due an independent subscriber receives (none may arrive before its due time, and only the
  trickle may arrive at all), and no target due later than now that has left 'scheduled'."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from siar_scheduler import store

from .common import fresh_environment, machine, register_account, rss_mb, start_stack, summary
from .measure import (
    DueTap,
    Resources,
    copy_posts,
    epoch,
    lateness_shares,
    log_warnings,
    queue_depths,
)
from .steady import LEAD, by_segment, feed

CHUNK = 50_000
YEAR = 365 * 86400


class _Capture:
    """Stands in for a connection to read the exact SQL and arguments ``claim_due`` sends."""

    async def fetch(self, sql: str, *args):
        self.sql, self.args = sql, args
        return []


async def load(database_url: str, account_id: str, rows: int, rng: random.Random) -> float:
    conn = await asyncpg.connect(database_url)
    started = time.perf_counter()
    try:
        for start in range(0, rows, CHUNK):
            now = time.time()
            due = [epoch(now + 3600 + rng.random() * (YEAR - 3600)) for _ in range(min(CHUNK, rows - start))]
            await copy_posts(conn, account_id, due, "Future post")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def time_claims(database_url: str, until: float, every: float = 0.5) -> dict:
    capture = _Capture()
    await store.claim_due(capture, 500)
    claim_ms, next_ms, commit_ms, claimed = [], [], [], []
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "scheduler"})
    try:
        while time.time() < until:
            tr = conn.transaction()
            await tr.start()
            t0 = time.perf_counter()
            rows = await store.claim_due(conn, 500)
            claim_ms.append((time.perf_counter() - t0) * 1000)
            await tr.rollback()  # leave the rows to the scheduler
            claimed.append(len(rows))
            t0 = time.perf_counter()
            await conn.fetchval(store.SECONDS_UNTIL_NEXT_DUE)
            next_ms.append((time.perf_counter() - t0) * 1000)
            # A transaction that commits a write (a transaction id): what every claim's commit
            # waits for, the WAL flush, which a bulk load or a checkpoint can slow down.
            t0 = time.perf_counter()
            async with conn.transaction():
                await conn.fetchval("SELECT txid_current()")
            commit_ms.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(every)
        tr = conn.transaction()
        await tr.start()
        plan = [r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + capture.sql, *capture.args)]
        await tr.rollback()
    finally:
        await conn.close()
    return {"claim_ms": summary(claim_ms), "next_due_ms": summary(next_ms), "commit_ms": summary(commit_ms),
            "samples": len(claim_ms),
            "samples_with_rows_due": sum(1 for c in claimed if c), "explain_analyze": plan}


async def run(rows: int = 1_000_000, seconds: int = 90, trickle: int = 5, seed: int | None = None) -> dict:
    rng = random.Random(seed)
    with fresh_environment("future") as env, tempfile.TemporaryDirectory() as logs:
        stack = start_stack(env, Path(logs))
        try:
            account = register_account(stack)
            tap = DueTap(env.amqp_url)
            await tap.start()
            resources = Resources(stack)
            scheduler_pid = stack.services["scheduler"].process.pid
            rss: list[tuple[float, float]] = []
            depths: dict[str, int] = {}
            sampling = True

            async def sample() -> None:
                while sampling:
                    rss.append((time.time(), rss_mb(scheduler_pid)))
                    for queue, depth in (await queue_depths(env.amqp_url)).items():
                        depths[queue] = max(depths.get(queue, 0), depth)
                    await asyncio.sleep(1)

            sampler = asyncio.create_task(sample())
            rss_before = rss_mb(scheduler_pid)
            load_seconds = await load(env.database_url, account["account_id"], rows, rng)
            rss_after_load = rss_mb(scheduler_pid)
            resources.mark()
            first_due = time.time() + LEAD + 1
            end = first_due + seconds
            trickling = asyncio.create_task(feed(env.database_url, account["account_id"], trickle, seconds, first_due))
            claims = await time_claims(env.database_url, end)
            await trickling
            expected = trickle * seconds
            await tap.wait_for(expected, 30)
            sampling = False
            await sampler
            conn = await asyncpg.connect(env.database_url)
            try:
                early_claimed = await conn.fetchval(
                    "SELECT count(*) FROM scheduler.targets WHERE status <> 'scheduled' AND due_at > clock_timestamp()")
                outbox = await conn.fetchval("SELECT count(*) FROM scheduler.outbox")
                stats = await conn.fetchrow(
                    "SELECT n_live_tup, n_dead_tup, last_autovacuum, last_autoanalyze FROM pg_stat_user_tables"
                    " WHERE schemaname = 'scheduler' AND relname = 'targets'")
            finally:
                await conn.close()
            window = [mb for t, mb in rss if t >= first_due]
            async with httpx.AsyncClient(base_url=stack.url("scheduler")) as scheduler:
                claimed_within = await lateness_shares(scheduler)
            report = resources.report(len(tap.arrivals))
            await tap.close()
            return {
                "rows": rows, "seconds": seconds, "trickle_per_s": trickle, "load_seconds": round(load_seconds, 1),
                "scheduler_rss_mb": {
                    "before_load": round(rss_before, 1), "after_load": round(rss_after_load, 1),
                    "run_start": round(window[0], 1) if window else None, "run_end": round(window[-1], 1) if window else None,
                    "max": round(max(mb for _, mb in rss), 1), "samples": len(rss),
                },
                "claim": claims,
                "trickle_dispatched": len(tap.arrivals), "trickle_expected": expected,
                "trickle_lateness": summary(tap.lateness()),
                "trickle_p99_by_tenth": by_segment(list(tap.arrivals.values()), first_due, seconds),
                "claimed_within_seconds": claimed_within,
                "post_due_before_due_time": tap.early(), "future_targets_claimed": early_claimed,
                "outbox_rows_at_end": outbox, "max_queue_depths": depths,
                "targets_table": {"live": stats["n_live_tup"], "dead": stats["n_dead_tup"],
                                  "autovacuumed": stats["last_autovacuum"] is not None,
                                  "autoanalyzed": stats["last_autoanalyze"] is not None},
                "resources": report,
                "log_warnings": log_warnings(Path(logs)),
            }
        finally:
            stack.stop()


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 90
    trickle = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    result = asyncio.run(run(rows, seconds, trickle))
    print(f"machine: {machine()}\ncommand: python -m bench.future {' '.join(sys.argv[1:])}")
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
