"""Published attempts recorded together, on the real database: one transaction for many, each
fenced by its attempt like one at a time — a delivery whose lease was taken over is neither
marked nor announced — and exactly one post.published for each one recorded."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
from siar_publisher import store
from siar_publisher.adapters import Published
from siar_publisher.delivery import DeliveryWorker
from siar_publisher.metrics import PublisherMetrics
from siar_publisher.settings import PublisherSettings
from siar_publisher.vault import Vault
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics


async def test_successes_finishing_together_are_recorded_fenced_in_one_batch(clean_db):
    settings = PublisherSettings(database_url=clean_db, environment="test")
    db = await Database.open(clean_db, "publisher")
    async with db.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO accounts (account_id, platform, handle, base_url, credentials)"
            " VALUES ('a1', 'mastodon', 'perpus', 'http://sandbox/mastodon', '\\x00')"
        )
        for n in range(6):
            await conn.execute(
                "INSERT INTO deliveries (target_id, post_id, account_id, platform, correlation_id, due_at, text)"
                " VALUES ($1, $2, 'a1', 'mastodon', $3, $4, 'halo')",
                f"t{n}", f"p{n}", f"c{n}", datetime.now(UTC),
            )
        rows = {r["target_id"]: r for r in await store.claim(conn, 10, 45, [])}
        # t5's lease expired and another worker reclaimed it: attempt 2 is now the live one.
        await conn.execute("UPDATE deliveries SET attempts = 2 WHERE target_id = 't5'")
    wakes = []
    async with httpx.AsyncClient() as client:
        worker = DeliveryWorker(db, client, Vault(settings.credentials_key), PublisherMetrics(ChassisMetrics("test")),
                                settings, on_committed=lambda: wakes.append(1))
        await asyncio.gather(*(
            worker._published(rows[f"t{n}"], Published(platform_post_id=f"id{n}", url=f"https://m.example/{n}"))
            for n in range(6)
        ))
    async with db.pool.acquire() as conn:
        states = {r["target_id"]: (r["state"], r["platform_post_id"]) for r in await conn.fetch("SELECT * FROM deliveries")}
        events = [json.loads(r["body"]) for r in await conn.fetch("SELECT body FROM outbox WHERE routing_key = 'post.published'")]
    await db.close()
    assert states == {**{f"t{n}": ("published", f"id{n}") for n in range(5)}, "t5": ("in_flight", None)}
    assert sorted(e["data"]["target_id"] for e in events) == [f"t{n}" for n in range(5)]
    assert {e["data"]["platform_post_id"] for e in events} == {f"id{n}" for n in range(5)}
    assert len(wakes) == 1  # one batch, one wake-up
