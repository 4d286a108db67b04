"""SQL for posts and targets: the only place that knows the scheduler's tables."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from .schemas import MediaIn, PostOut, TargetOut
from .status import post_status
from .timing import local

DUE_CHANNEL = "scheduler_due"

SECONDS_UNTIL_NEXT_DUE = (
    "SELECT extract(epoch FROM min(due_at) - clock_timestamp())::float8"
    " FROM targets WHERE status = 'scheduled'"
)


async def insert_post(
    conn: asyncpg.Connection,
    *,
    post_id: UUID,
    text: str,
    media: list[MediaIn],
    title: str | None,
    scheduled_at: datetime,
    timezone: str | None,
    correlation_id: str,
    idempotency_key: str | None,
    created_by: str,
    targets: list[tuple[UUID, str, str]],
) -> None:
    await conn.execute(
        """
        INSERT INTO posts (post_id, text, media, title, scheduled_at, timezone, correlation_id,
                           idempotency_key, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        post_id,
        text,
        [m.model_dump(exclude_none=True) for m in media],
        title,
        scheduled_at,
        timezone,
        correlation_id,
        idempotency_key,
        created_by,
    )
    await conn.executemany(
        "INSERT INTO targets (target_id, post_id, account_id, platform, due_at) VALUES ($1, $2, $3, $4, $5)",
        [(tid, post_id, account_id, platform, scheduled_at) for tid, account_id, platform in targets],
    )
    await conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)


async def post_id_for_key(conn: asyncpg.Connection, idempotency_key: str) -> UUID | None:
    return await conn.fetchval("SELECT post_id FROM posts WHERE idempotency_key = $1", idempotency_key)


def _target(row: asyncpg.Record) -> TargetOut:
    return TargetOut(
        target_id=row["target_id"],
        account_id=row["account_id"],
        platform=row["platform"],
        status=row["status"],
        due_at=row["due_at"],
        dispatched_at=row["dispatched_at"],
        published_at=row["published_at"],
        platform_post_id=row["platform_post_id"],
        url=row["url"],
        error_class=row["error_class"],
        reason=row["reason"],
        attempts=row["attempts"],
    )


def _post(row: asyncpg.Record, targets: list[TargetOut]) -> PostOut:
    return PostOut(
        post_id=row["post_id"],
        status=post_status(t.status for t in targets),
        text=row["text"],
        media=[MediaIn(**m) for m in row["media"]],
        title=row["title"],
        scheduled_at=row["scheduled_at"],
        scheduled_local=local(row["scheduled_at"], row["timezone"]),
        timezone=row["timezone"],
        correlation_id=row["correlation_id"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        targets=targets,
    )


async def get_post(conn: asyncpg.Connection, post_id: UUID, *, for_update: bool = False) -> PostOut | None:
    row = await conn.fetchrow(
        "SELECT * FROM posts WHERE post_id = $1" + (" FOR UPDATE" if for_update else ""), post_id
    )
    if row is None:
        return None
    targets = await conn.fetch(
        "SELECT * FROM targets WHERE post_id = $1 ORDER BY platform, account_id", post_id
    )
    return _post(row, [_target(t) for t in targets])


async def list_posts(
    conn: asyncpg.Connection,
    *,
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[PostOut]:
    rows = await conn.fetch(
        """
        SELECT * FROM posts
        WHERE ($1::timestamptz IS NULL OR scheduled_at >= $1)
          AND ($2::timestamptz IS NULL OR scheduled_at < $2)
          AND ($3::timestamptz IS NULL OR (scheduled_at, post_id) > ($3, $4::uuid))
        ORDER BY scheduled_at, post_id
        LIMIT $5
        """,
        start,
        end,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    if not rows:
        return []
    targets = await conn.fetch(
        "SELECT * FROM targets WHERE post_id = ANY($1::uuid[]) ORDER BY platform, account_id",
        [r["post_id"] for r in rows],
    )
    by_post: dict[UUID, list[TargetOut]] = {}
    for t in targets:
        by_post.setdefault(t["post_id"], []).append(_target(t))
    return [_post(r, by_post.get(r["post_id"], [])) for r in rows]


async def update_post(
    conn: asyncpg.Connection,
    post_id: UUID,
    *,
    text: str,
    media: list[MediaIn],
    title: str | None,
    scheduled_at: datetime,
    timezone: str | None,
) -> None:
    await conn.execute(
        """
        UPDATE posts SET text = $2, media = $3, title = $4, scheduled_at = $5, timezone = $6,
                         version = version + 1, updated_at = now()
        WHERE post_id = $1
        """,
        post_id,
        text,
        [m.model_dump(exclude_none=True) for m in media],
        title,
        scheduled_at,
        timezone,
    )
    await conn.execute(
        "UPDATE targets SET due_at = $2, updated_at = now() WHERE post_id = $1 AND status = 'scheduled'",
        post_id,
        scheduled_at,
    )
    await conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)


async def cancel_targets(conn: asyncpg.Connection, post_id: UUID, reason: str) -> list[UUID]:
    rows = await conn.fetch(
        """
        UPDATE targets SET status = 'cancelled', reason = $2, updated_at = now()
        WHERE post_id = $1 AND status = 'scheduled'
        RETURNING target_id
        """,
        post_id,
        reason,
    )
    await conn.execute("UPDATE posts SET version = version + 1, updated_at = now() WHERE post_id = $1", post_id)
    return [r["target_id"] for r in rows]


async def claim_due(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Take up to ``limit`` targets whose time has come; replicas skip each other's rows."""
    return await conn.fetch(
        """
        WITH due AS (
            SELECT target_id FROM targets
            WHERE status = 'scheduled' AND due_at <= clock_timestamp()
            ORDER BY due_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE targets t
        SET status = 'due', dispatched_at = clock_timestamp(), updated_at = clock_timestamp()
        FROM due, posts p
        WHERE t.target_id = due.target_id AND p.post_id = t.post_id
        RETURNING t.target_id, t.post_id, t.account_id, t.platform, t.due_at,
                  p.text, p.media, p.title, p.correlation_id
        """,
        limit,
    )


async def correlation_of(conn: asyncpg.Connection, post_id: UUID) -> str | None:
    return await conn.fetchval("SELECT correlation_id FROM posts WHERE post_id = $1", post_id)


async def mark_published(
    conn: asyncpg.Connection, target_id: UUID, platform_post_id: str, url: str | None,
    published_at: datetime, attempts: int,
) -> None:
    await conn.execute(
        """
        UPDATE targets SET status = 'published', platform_post_id = $2, url = $3, published_at = $4,
               attempts = $5, error_class = NULL, reason = NULL, updated_at = now()
        WHERE target_id = $1 AND status <> 'published'
        """,
        target_id, platform_post_id, url, published_at, attempts,
    )


async def mark_failed(
    conn: asyncpg.Connection, target_id: UUID, error_class: str, reason: str, attempts: int
) -> None:
    # A late failure never overrides a success that arrived first.
    await conn.execute(
        """
        UPDATE targets SET status = 'failed', error_class = $2, reason = $3, attempts = $4, updated_at = now()
        WHERE target_id = $1 AND status NOT IN ('published', 'cancelled')
        """,
        target_id, error_class, reason, attempts,
    )


async def mark_retrying(
    conn: asyncpg.Connection, target_id: UUID, error_class: str, reason: str, attempt: int
) -> None:
    await conn.execute(
        """
        UPDATE targets SET status = 'retrying', error_class = $2, reason = $3, attempts = $4, updated_at = now()
        WHERE target_id = $1 AND status IN ('due', 'retrying')
        """,
        target_id, error_class, reason, attempt,
    )
