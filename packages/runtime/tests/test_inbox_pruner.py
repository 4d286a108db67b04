"""The inbox forgets old event ids in the background, and only old ones."""

from __future__ import annotations

import asyncio

import asyncpg
from siar_runtime.inbox import Pruner


async def test_the_pruner_forgets_event_ids_older_than_the_kept_days(clean_db):
    pool = await asyncpg.create_pool(clean_db, min_size=1, max_size=2, server_settings={"search_path": "publisher"})
    try:
        await pool.execute(
            "INSERT INTO inbox (source, event_id, received_at) VALUES"
            " ('siar/scheduler', 'old', now() - interval '31 days'),"
            " ('siar/scheduler', 'recent', now() - interval '29 days'),"
            " ('siar/scheduler', 'new', now())"
        )
        pruner = Pruner(pool, keep_days=30, every_seconds=3600, first_after_seconds=0)
        pruner.start()
        try:
            for _ in range(200):
                left = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox")}
                if "old" not in left:
                    break
                await asyncio.sleep(0.01)
        finally:
            await pruner.stop()
        assert left == {"recent", "new"}
    finally:
        await pool.close()
