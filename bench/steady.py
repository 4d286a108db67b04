"""Steady: RATE targets due every second for SECONDS seconds (defaults 500/s for 300 s), the whole
stack running — sandbox, scheduler, and a publisher really posting each one to an unlimited-rate
sandbox Mastodon account.

    uv run python -m bench.steady [RATE] [SECONDS]

The due times are spread evenly (target i of second k is due at k + i/RATE). Posts are written
straight into the scheduler's tables one second's worth at a time, LEAD (10) seconds before that
second is due: far enough ahead that an insertion never races its own due time, and small enough
(one COPY of RATE rows a second) that it is a steady light load like a real stream of new posts,
not a bulk load in the middle of the measurement. Writing everything first would instead measure
a large schedule, which bench/future.py does.

Lateness = when an independent subscriber on post.due received the target's post.due minus its
due time. Beside it, the lateness as the issue defines it — due time to the broker's confirm — from
the scheduler's own histogram (siar_scheduler_due_confirmed_seconds, at its buckets' resolution).
The two differ both ways: the subscriber's classic queue hands a message on before the
publisher's quorum queue has confirmed it, but the subscriber shares the two cores. Also: how many posts the sandbox had
accepted when the last one was due (+1 s), how long until it had them all, and peak RSS and CPU
seconds per 1,000 posts of each service."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from .common import fresh_environment, machine, register_account, start_stack, summary
from .measure import (
    CONFIRMED,
    DueTap,
    Resources,
    copy_posts,
    epoch,
    lateness_shares,
    log_warnings,
    sandbox_total,
)

LEAD = 10.0


async def feed(database_url: str, account_id: str, rate: float, seconds: int, first_due: float) -> float:
    """Write each second's posts LEAD seconds ahead; return the smallest margin between a chunk's
    commit and its first due time (were it ever negative, the lateness would be the feeder's)."""
    conn = await asyncpg.connect(database_url)
    margin = float("inf")
    try:
        per_second = max(1, round(rate))
        for k in range(seconds):
            delay = first_due + k - LEAD - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            due = [epoch(first_due + k + i / per_second) for i in range(per_second)]
            await copy_posts(conn, account_id, due, "Steady post")
            margin = min(margin, first_due + k - time.time())
    finally:
        await conn.close()
    return margin


def by_segment(arrivals: list[tuple[float, float]], first_due: float, seconds: int, segments: int = 10) -> list[float]:
    """p99 lateness of each tenth of the run (by due time): does it drift as the run goes on?"""
    width = max(1.0, seconds / segments)
    buckets: dict[int, list[float]] = {}
    for received, due in arrivals:
        buckets.setdefault(int((due - first_due) // width), []).append(received - due)
    return [round(summary(buckets[b])["p99"], 4) for b in sorted(buckets)]


async def run(rate: int = 500, seconds: int = 300, drain: float = 180) -> dict:
    n = rate * seconds
    with fresh_environment("steady") as env, tempfile.TemporaryDirectory() as logs:
        stack = start_stack(env, Path(logs), {"SIAR_CONCURRENCY": "128", "SIAR_DB_POOL_MAX": "20"})
        try:
            account = register_account(stack)
            tap = DueTap(env.amqp_url)
            await tap.start()
            resources = Resources(stack)
            resources.mark()
            first_due = time.time() + LEAD + 1
            feeder = asyncio.create_task(feed(env.database_url, account["account_id"], rate, seconds, first_due))
            async with httpx.AsyncClient(base_url=stack.url("sandbox")) as sandbox:
                end = first_due + seconds
                await asyncio.sleep(max(0.0, end + 1 - time.time()))
                delivered_at_end = await sandbox_total(sandbox)
                feeder_margin = await feeder
                all_dispatched = await tap.wait_for(n, drain)
                delivered = await sandbox_total(sandbox)
                while delivered < n and time.time() < end + drain:
                    await asyncio.sleep(0.5)
                    delivered = await sandbox_total(sandbox)
                all_delivered_after = time.time() - end if delivered >= n else None
            async with httpx.AsyncClient(base_url=stack.url("scheduler")) as scheduler:
                claimed_within = await lateness_shares(scheduler)
                confirmed_within = await lateness_shares(scheduler, CONFIRMED)
            report = resources.report({"scheduler": len(tap.arrivals), "publisher": delivered, "sandbox": delivered})
            arrivals = list(tap.arrivals.values())
            await tap.close()
            last = max((received for received, _ in arrivals), default=first_due)
            return {
                "rate": rate, "seconds": seconds, "n": n, "lead_seconds": LEAD,
                "feeder_worst_margin_seconds": round(feeder_margin, 2),
                "dispatched": len(tap.arrivals), "all_dispatched": all_dispatched, "repeats": tap.repeats,
                "dispatch_rate": len(arrivals) / max(last - first_due, 1e-9),
                "lateness": summary(tap.lateness()),
                "p99_by_tenth": by_segment(arrivals, first_due, seconds),
                "claimed_within_seconds": claimed_within,
                "confirmed_within_seconds": confirmed_within,
                "delivered_by_end": delivered_at_end, "delivered": delivered,
                "all_delivered_seconds_after_end": all_delivered_after,
                "resources": report,
                "log_warnings": log_warnings(Path(logs)),
            }
        finally:
            stack.stop()


def main() -> None:
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    result = asyncio.run(run(rate, seconds))
    print(f"machine: {machine()}\ncommand: python -m bench.steady {rate} {seconds}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
