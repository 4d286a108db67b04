"""The readings claim reads only the readings that are due, however many are planned for later:
six readings per published post pile up over the 30-day schedule, and a claim that filtered
every future one (``due_at <= clock_timestamp()`` is a filter, not an index condition) would
slow with each post ever published."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from siar_metrics import store

FUTURE = 5000
DUE = 3


class _Capture:
    """Stands in for a connection to read the exact SQL and arguments claim_due sends."""

    async def fetch(self, sql: str, *args):
        self.sql, self.args = sql, args
        return []


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh-table", "analyzed"])
async def test_a_claim_reads_only_the_due_readings(clean_db, analyzed):
    capture = _Capture()
    await store.claim_due(capture, 500, timedelta(minutes=10))
    conn = await asyncpg.connect(clean_db, server_settings={"search_path": "metrics"})
    try:
        now = datetime.now(UTC)
        when = [now - timedelta(seconds=1)] * DUE + [now + timedelta(hours=1 + i) for i in range(FUTURE)]
        await conn.copy_records_to_table(
            "collections", records=[
                (uuid.uuid4(), "post", "1h", str(uuid.uuid4()), str(uuid.uuid4()), "acct-m", "mastodon", "1",
                 now, str(uuid.uuid4()), due, due) for due in when],
            columns=["request_id", "kind", "stage", "target_id", "post_id", "account_id", "platform",
                     "platform_post_id", "published_at", "correlation_id", "planned_at", "due_at"])
        if analyzed:
            await conn.execute("ANALYZE collections")
        tr = conn.transaction()
        await tr.start()
        [[plan]] = await conn.fetch("EXPLAIN (ANALYZE, FORMAT JSON) " + capture.sql, *capture.args)
        claimed = await conn.fetchval("SELECT count(*) FROM collections WHERE state = 'requested'")
        await tr.rollback()
    finally:
        await conn.close()
    assert claimed == DUE
    [due] = [n for n in _nodes(json.loads(plan)[0]["Plan"]) if n.get("Subplan Name") == "CTE due"]
    index = [n for n in _nodes(due) if n.get("Index Name") in ("collections_due", "collections_waiting")]
    assert index, "the claim does not use the partial due index"
    for node in _nodes(due):
        assert node.get("Rows Removed by Filter", 0) == 0, node["Node Type"]
    for node in index:
        assert node["Actual Rows"] * node["Actual Loops"] <= DUE, node["Node Type"]
