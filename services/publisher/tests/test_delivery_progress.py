"""store.save_progress on the real database: what an attempt keeps (an Instagram container id)
is merged into the delivery and comes back with the next claim; a worker whose lease was taken
over cannot write it."""

from __future__ import annotations

from datetime import UTC, datetime

from siar_publisher import store
from siar_runtime.db import connect


async def test_progress_is_merged_kept_across_claims_and_fenced(clean_db):
    conn = await connect(clean_db, "publisher")
    try:
        await conn.execute(
            "INSERT INTO accounts (account_id, platform, handle, base_url, credentials)"
            " VALUES ('a1', 'instagram', 'perpus', 'http://sandbox/instagram', '\\x00')"
        )
        await conn.execute(
            "INSERT INTO deliveries (target_id, post_id, account_id, platform, correlation_id, due_at, text)"
            " VALUES ('t1', 'p1', 'a1', 'instagram', 'c1', $1, 'x')",
            datetime.now(UTC),
        )
        [row] = await store.claim(conn, 10, 45, [])
        assert row["progress"] == {} and row["attempts"] == 1
        assert await store.save_progress(conn, "t1", 1, {"container": "1789"})
        assert await store.save_progress(conn, "t1", 1, {"container_made_at": "2026-01-01T00:00:00+00:00"})
        assert not await store.save_progress(conn, "t1", 2, {"container": "other"})  # not this attempt
        await store.finish(conn, "t1", 1, state="pending", next_attempt_at=datetime.now(UTC))
        [again] = await store.claim(conn, 10, 45, [])
        assert again["progress"] == {"container": "1789", "container_made_at": "2026-01-01T00:00:00+00:00"}
    finally:
        await conn.close()
