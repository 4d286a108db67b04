"""Precision at rest: POSTS single posts due at random instants over PERIOD seconds (defaults 200
over 210 s), the stack otherwise idle — how close to its second does a lone post go out?

    uv run python -m bench.precision [POSTS] [PERIOD] [SEED]

Every post is scheduled through the scheduler's API (the path a librarian's post takes) before
the period starts, each to one unlimited-rate sandbox Mastodon account, so during the period the
scheduler only sleeps until the next due time and wakes for it. Lateness = when an independent
subscriber on post.due received it minus its due time (an upper bound of the broker-confirmed
time); also whether the sandbox accepted every post."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

from .common import TOKEN, fresh_environment, machine, register_account, start_stack, summary
from .measure import (
    CONFIRMED,
    DueTap,
    Resources,
    epoch,
    lateness_shares,
    log_warnings,
    sandbox_total,
)

SETTLE = 15.0  # seconds between the last API call and the period's start


async def run(posts: int = 200, period: float = 210, seed: int | None = None) -> dict:
    rng = random.Random(seed)
    with fresh_environment("precision") as env, tempfile.TemporaryDirectory() as logs:
        stack = start_stack(env, Path(logs))
        try:
            account = register_account(stack)
            tap = DueTap(env.amqp_url)
            await tap.start()
            resources = Resources(stack)
            resources.mark()
            # Enough time to schedule every post through the API before the first is due.
            start = time.time() + SETTLE + posts * 0.05
            due = sorted(start + rng.uniform(0, period) for _ in range(posts))
            async with httpx.AsyncClient(base_url=stack.url("scheduler"), timeout=30,
                                         headers={"Authorization": f"Bearer {TOKEN}"}) as api:
                for i, t in enumerate(due):
                    response = await api.post("/v1/posts", json={
                        "text": f"Precision post {i}", "targets": [account["account_id"]],
                        "scheduled_at": epoch(t).isoformat()})
                    response.raise_for_status()
            scheduled_ahead = start - time.time()
            end = start + period
            all_dispatched = await tap.wait_for(posts, end + 60 - time.time())
            async with httpx.AsyncClient(base_url=stack.url("sandbox")) as sandbox:
                delivered = await sandbox_total(sandbox)
                while delivered < posts and time.time() < end + 60:
                    await asyncio.sleep(0.5)
                    delivered = await sandbox_total(sandbox)
            async with httpx.AsyncClient(base_url=stack.url("scheduler")) as scheduler:
                claimed_within = await lateness_shares(scheduler)
                confirmed_within = await lateness_shares(scheduler, CONFIRMED)
            report = resources.report({"scheduler": len(tap.arrivals), "publisher": delivered, "sandbox": delivered})
            await tap.close()
            return {
                "posts": posts, "period_seconds": period, "seed": seed,
                "last_api_call_before_period_seconds": round(scheduled_ahead, 1),
                "dispatched": len(tap.arrivals), "all_dispatched": all_dispatched, "repeats": tap.repeats,
                "early": tap.early(), "delivered": delivered,
                "lateness": summary(tap.lateness()),
                "claimed_within_seconds": claimed_within,
                "confirmed_within_seconds": confirmed_within,
                "resources": report,
                "log_warnings": log_warnings(Path(logs)),
            }
        finally:
            stack.stop()


def main() -> None:
    posts = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    period = float(sys.argv[2]) if len(sys.argv) > 2 else 210
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else None
    result = asyncio.run(run(posts, period, seed))
    print(f"machine: {machine()}\ncommand: python -m bench.precision {' '.join(sys.argv[1:])}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
