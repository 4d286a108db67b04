"""SQL for content planning: campaigns, series, rhythms, the audit log and the calendar's
queries. With store.py, the only place that knows the scheduler's tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from siar_runtime import audit as audit_log

SERIES_CHANNEL = "scheduler_series"

SECONDS_UNTIL_NEXT_EXTENSION = (
    "SELECT extract(epoch FROM min(extend_at) - clock_timestamp())::float8"
    " FROM series WHERE status = 'active' AND extend_at IS NOT NULL"
)


# -- audit -----------------------------------------------------------------------------------


# The audit log: siar_runtime.audit's table in this schema.
audit = audit_log.append
audit_many = audit_log.append_many


# -- campaigns -------------------------------------------------------------------------------

_CAMPAIGN = """
    SELECT c.*, (SELECT count(*) FROM posts p WHERE p.campaign_id = c.campaign_id
                 AND EXISTS (SELECT 1 FROM targets t WHERE t.post_id = p.post_id AND t.status <> 'cancelled')) AS posts
    FROM campaigns c
"""


async def insert_campaign(
    conn: asyncpg.Connection, *, campaign_id: UUID, name: str, hashtags: list[str], starts_on: date | None,
    ends_on: date | None, goal: str | None, created_by: str,
) -> None:
    await conn.execute(
        """
        INSERT INTO campaigns (campaign_id, name, hashtags, starts_on, ends_on, goal, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        campaign_id, name, hashtags, starts_on, ends_on, goal, created_by,
    )


async def update_campaign(
    conn: asyncpg.Connection, campaign_id: UUID, *, name: str, hashtags: list[str], starts_on: date | None,
    ends_on: date | None, goal: str | None,
) -> None:
    await conn.execute(
        """
        UPDATE campaigns SET name = $2, hashtags = $3, starts_on = $4, ends_on = $5, goal = $6, updated_at = now()
        WHERE campaign_id = $1
        """,
        campaign_id, name, hashtags, starts_on, ends_on, goal,
    )


async def get_campaign(conn: asyncpg.Connection, campaign_id: UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    if for_update:
        await conn.execute("SELECT 1 FROM campaigns WHERE campaign_id = $1 FOR UPDATE", campaign_id)
    return await conn.fetchrow(_CAMPAIGN + " WHERE c.campaign_id = $1", campaign_id)


async def campaign_by_name(conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_CAMPAIGN + " WHERE lower(c.name) = lower($1)", name)


async def list_campaigns(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(_CAMPAIGN + " ORDER BY c.starts_on NULLS LAST, lower(c.name)")


async def pending_campaign_posts(conn: asyncpg.Connection, campaign_id: UUID) -> list[UUID]:
    """Posts of the campaign with a target that has not gone out, locked for an update."""
    rows = await conn.fetch(
        """
        SELECT p.post_id FROM posts p
        WHERE p.campaign_id = $1 AND EXISTS (SELECT 1 FROM targets t WHERE t.post_id = p.post_id AND t.status = 'scheduled')
        ORDER BY p.scheduled_at
        FOR UPDATE
        """,
        campaign_id,
    )
    return [r["post_id"] for r in rows]


# -- series ----------------------------------------------------------------------------------


def _submission_timed(values: dict[str, Any]) -> dict[str, Any]:
    """Whoever submits a series (``submitted_by`` written) submits it now: ``submitted_at``
    follows, as for posts."""
    if values.get("submitted_by") is not None and "submitted_at" not in values:
        return values | {"submitted_at": datetime.now(UTC)}
    return values


async def insert_series(conn: asyncpg.Connection, **values: Any) -> None:
    values = _submission_timed(values)
    columns = list(values)
    await conn.execute(
        f"INSERT INTO series ({', '.join(columns)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
        *values.values(),
    )


_SERIES_COLUMNS = {
    "text", "media", "title", "targets", "campaign_id", "timezone", "starts_local", "rrule", "exdates",
    "countdown", "review_state", "edited_by", "submitted_by", "submitted_at", "reviewed_by", "reviewed_at",
    "review_comment",
    "status", "cancel_reason", "materialised_until", "extend_at",
}


async def update_series(conn: asyncpg.Connection, series_id: UUID, *, bump: bool = True, **values: Any) -> None:
    unknown = set(values) - _SERIES_COLUMNS
    if unknown:
        raise ValueError(f"not a series column: {unknown}")
    values = _submission_timed(values)
    sets = [f"{name} = ${i + 2}" for i, name in enumerate(values)]
    if bump:
        sets.append("version = version + 1")
    sets.append("updated_at = now()")
    await conn.execute(f"UPDATE series SET {', '.join(sets)} WHERE series_id = $1", series_id, *values.values())


async def get_series(conn: asyncpg.Connection, series_id: UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM series WHERE series_id = $1" + (" FOR UPDATE" if for_update else ""), series_id
    )


async def list_series(conn: asyncpg.Connection, kind: str, *, include_cancelled: bool) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM series WHERE kind = $1 AND ($2 OR status = 'active') ORDER BY starts_local, series_id",
        kind, include_cancelled,
    )


async def claim_extensions(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Series whose rolling horizon needs extending now; replicas skip each other's rows."""
    return await conn.fetch(
        """
        SELECT * FROM series
        WHERE status = 'active' AND extend_at IS NOT NULL AND extend_at <= (SELECT clock_timestamp())
        ORDER BY extend_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED
        """,
        limit,
    )


# -- rhythms ---------------------------------------------------------------------------------


async def set_rhythm(conn: asyncpg.Connection, account_id: str, posts: int, per: str, updated_by: str) -> None:
    await conn.execute(
        """
        INSERT INTO rhythms (account_id, posts, per, updated_by) VALUES ($1, $2, $3, $4)
        ON CONFLICT (account_id) DO UPDATE SET posts = EXCLUDED.posts, per = EXCLUDED.per,
            updated_by = EXCLUDED.updated_by, updated_at = now()
        """,
        account_id, posts, per, updated_by,
    )


async def delete_rhythm(conn: asyncpg.Connection, account_id: str) -> bool:
    status = await conn.execute("DELETE FROM rhythms WHERE account_id = $1", account_id)
    return status.endswith(" 1")


async def rhythms(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT r.*, a.platform, a.handle FROM rhythms r LEFT JOIN accounts a USING (account_id)
        ORDER BY a.platform NULLS LAST, a.handle, r.account_id
        """
    )


async def planned_targets(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    """Targets planned or out in [start, end): not cancelled, not failed."""
    return await conn.fetch(
        """
        SELECT t.account_id, t.due_at, p.review_state FROM targets t JOIN posts p USING (post_id)
        WHERE t.due_at >= $1 AND t.due_at < $2 AND t.status NOT IN ('cancelled', 'failed')
        """,
        start, end,
    )


# -- calendar --------------------------------------------------------------------------------


async def calendar_rows(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT p.post_id, p.scheduled_at, p.timezone, p.text, p.title, p.media, p.review_state, p.campaign_id,
               p.series_id, p.created_by, c.name AS campaign,
               array_agg(t.platform ORDER BY t.platform, t.account_id) AS platforms,
               array_agg(t.account_id ORDER BY t.platform, t.account_id) AS account_ids,
               array_agg(t.status ORDER BY t.platform, t.account_id) AS statuses
        FROM posts p
        JOIN targets t USING (post_id)
        LEFT JOIN campaigns c USING (campaign_id)
        WHERE p.scheduled_at >= $1 AND p.scheduled_at < $2
        GROUP BY p.post_id, c.name
        ORDER BY p.scheduled_at, p.post_id
        """,
        start, end,
    )
