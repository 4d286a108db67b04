"""The claim reads only the targets that are due, however many are scheduled for later: with a
year of future posts in the table, each claim must not walk past the due ones (bench/future.py
measured 27 ms a claim at 100,000 future rows before this held)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from siar_scheduler import store

FUTURE = 5000
DUE = 3


class _Capture:
    """Stands in for a connection to read the exact SQL and arguments claim_due sends."""

    async def fetch(self, sql: str, *args):
        self.sql, self.args = sql, args
        return []


async def _fill(conn: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    when = [now - timedelta(seconds=1)] * DUE + [now + timedelta(hours=1 + i) for i in range(FUTURE)]
    posts = [(uuid.uuid4(), f"post {i}", "[]", due, str(uuid.uuid4())) for i, due in enumerate(when)]
    await conn.copy_records_to_table("posts", schema_name="scheduler", records=posts,
                                     columns=["post_id", "text", "media", "scheduled_at", "correlation_id"])
    await conn.copy_records_to_table(
        "targets", schema_name="scheduler",
        records=[(uuid.uuid4(), p[0], "acct-m", "mastodon", p[3]) for p in posts],
        columns=["target_id", "post_id", "account_id", "platform", "due_at"])


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh-table", "analyzed"])
async def test_a_claim_reads_only_the_due_targets(clean_db, analyzed):
    capture = _Capture()
    await store.claim_due(capture, 500)
    conn = await asyncpg.connect(clean_db, server_settings={"search_path": "scheduler"})
    try:
        await _fill(conn)
        if analyzed:
            await conn.execute("ANALYZE scheduler.targets, scheduler.posts")
        tr = conn.transaction()
        await tr.start()
        [[plan]] = await conn.fetch("EXPLAIN (ANALYZE, FORMAT JSON) " + capture.sql, *capture.args)
        claimed = await conn.fetchval("SELECT count(*) FROM targets WHERE status <> 'scheduled'")
        await tr.rollback()
    finally:
        await conn.close()
    assert claimed == DUE  # the due ones, and none of the future ones
    # The due targets are found by the CTE "due"; the UPDATE then joins them by key (by index
    # or, on a table this small, by one sequential scan: the planner's choice, not the claim's).
    [due] = [n for n in _nodes(json.loads(plan)[0]["Plan"]) if n.get("Subplan Name") == "CTE due"]
    index = [n for n in _nodes(due) if n.get("Index Name") == "targets_due"]
    assert index, "the claim does not use the partial due index"
    for node in _nodes(due):
        # An index condition, not a filter over every scheduled target.
        assert node.get("Rows Removed by Filter", 0) == 0, node["Node Type"]
    for node in index:
        assert node["Actual Rows"] * node["Actual Loops"] <= DUE, node["Node Type"]
