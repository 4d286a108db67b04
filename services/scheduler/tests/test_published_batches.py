"""post.published handled many at a time on the real database: each target is marked once with
what the platform said, a repeated event changes nothing, and a late repeat never overrides."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from siar_contracts import PostPublished, spec_for_model
from siar_runtime.db import Database
from siar_scheduler import store
from siar_scheduler.handlers import on_published_batch
from siar_scheduler.schemas import MediaIn


def published(post_id: uuid.UUID, target_id: uuid.UUID, platform_post_id: str, at: datetime,
              notice: str | None = None):
    payload = PostPublished(post_id=str(post_id), target_id=str(target_id), account_id="acct-m", platform="mastodon",
                            platform_post_id=platform_post_id, url=f"https://m.example/{platform_post_id}",
                            published_at=at, attempts=1, notice=notice)
    event = spec_for_model(PostPublished).envelope(payload, source="/siar/publisher", correlation_id="c")
    return event, payload


async def test_a_batch_marks_each_target_published_once(clean_db):
    db = await Database.open(clean_db, "scheduler")
    post_id, targets = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    now = datetime.now(UTC)
    async with db.pool.acquire() as conn, conn.transaction():
        await store.insert_post(
            conn, post_id=post_id, text="halo", media=[MediaIn(url="https://e.org/a.png", alt_text="a")], title=None,
            scheduled_at=now, timezone=None, correlation_id="c", idempotency_key=None, created_by="test",
            targets=[(t, f"acct-{i}", "mastodon") for i, t in enumerate(targets)],
        )
    first = [published(post_id, t, f"id{i}", now, "YouTube made the video private" if i else None)
             for i, t in enumerate(targets[:2])]
    await on_published_batch([*first, first[0]], db.pool)
    # The same event again, and a different one claiming another platform post for a published
    # target: neither changes what was recorded.
    late = published(post_id, targets[0], "other", now + timedelta(seconds=5))
    await on_published_batch([first[1], late], db.pool)
    async with db.pool.acquire() as conn:
        rows = {r["target_id"]: r for r in await conn.fetch("SELECT * FROM targets")}
        seen = await conn.fetchval("SELECT count(*) FROM inbox")
    await db.close()
    assert [rows[t]["status"] for t in targets] == ["published", "published", "scheduled"]
    assert rows[targets[0]]["platform_post_id"] == "id0"
    assert rows[targets[0]]["url"] == "https://m.example/id0"
    assert rows[targets[1]]["published_at"] == now and rows[targets[1]]["attempts"] == 1
    # What the library should know about a post that went out stays with its target.
    assert (rows[targets[0]]["reason"], rows[targets[1]]["reason"]) == (None, "YouTube made the video private")
    assert seen == 3
