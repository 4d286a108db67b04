"""The metrics service's migrations on data of the versions before them, against a scratch database
migrated step by step with dbmate."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime

import asyncpg
from siar_devstack import fresh
from siar_runtime.migrate import migrate, repo_root

SAMPLES_WITHOUT_INDEX = "20261223000001"


async def test_readings_stored_before_they_kept_their_raw_answer_get_it_before_the_samples_lose_their_index(tmp_path):
    older = tmp_path / "services" / "metrics" / "migrations"
    shutil.copytree(repo_root() / "services" / "metrics" / "migrations", older,
                    ignore=lambda _, names: [n for n in names if n >= SAMPLES_WITHOUT_INDEX])
    with fresh.database(fresh.unique("siar_metrics_migrations"), migrated=False) as url:
        migrate(url, ("metrics",), root=tmp_path, quiet=True)
        at = datetime(2026, 11, 20, 9, tzinfo=UTC)
        legacy, empty, upgrading, announced = (uuid.uuid4() for _ in range(4))
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT to_regclass('metrics.samples_collected_at')") is not None
            for request_id, txid, raw in ((legacy, None, None), (empty, None, None), (upgrading, 7, None),
                                          (announced, 8, '{"likes": 3}')):
                await conn.execute(
                    "INSERT INTO metrics.readings (request_id, kind, stage, target_id, account_id, platform, planned_at,"
                    " collected_at, attempts, txid, raw) VALUES ($1, 'post', '1d', 't-1', 'acc', 'x', $2, $2, 1, $3, $4)",
                    request_id, at, txid, raw)
            await conn.executemany(
                "INSERT INTO metrics.samples (request_id, collected_at, platform, account_id, target_id, metric,"
                " raw_name, value) VALUES ($1, $2, 'x', 'acc', 't-1', $3, $4, $5)",
                [(legacy, at, "likes", "like_count", 12), (legacy, at, "shares", "retweet_count", 2.5),
                 (upgrading, at, "likes", "like_count", 5), (announced, at, "likes", "like_count", 3)])
        finally:
            await conn.close()

        migrate(url, ("metrics",), quiet=True)
        conn = await asyncpg.connect(url)
        try:
            raw = {r["request_id"]: r["raw"] for r in await conn.fetch("SELECT request_id, raw::text FROM metrics.readings")}
            assert json.loads(raw[legacy]) == {"like_count": 12, "retweet_count": 2.5}
            assert json.loads(raw[empty]) == {}
            # A reading of a replica of the version before the announcer, running during the
            # upgrade (a transaction id, no raw answer): its event went through the outbox, and it
            # stays as it was, so that it is not announced again; its page still reads the samples.
            assert raw[upgrading] is None and json.loads(raw[announced]) == {"likes": 3}
            assert await conn.fetchval("SELECT to_regclass('metrics.samples_collected_at')") is None
        finally:
            await conn.close()
