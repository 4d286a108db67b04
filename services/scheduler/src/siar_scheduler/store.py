"""SQL for posts and targets: the only place that knows the scheduler's tables."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from .schemas import MediaIn, PostOut, ReviewOut, TargetOut
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
    targets: list[tuple],
    campaign_id: UUID | None = None,
    series_id: UUID | None = None,
    occurrence_key: str | None = None,
    review_state: str = "approved",
    submitted_by: str | None = None,
    reviewed_by: str | None = None,
    findings: list[dict] | None = None,
    notify: bool = True,
    edited_by: str | None = None,
) -> None:
    """``targets``: (target_id, account_id, platform) or (…, text) when the target sends its own text.
    ``edited_by``: who last changed the content, when not its author (a survey's announcement)."""
    submitted = review_state != "draft"
    await conn.execute(
        """
        INSERT INTO posts (post_id, text, media, title, scheduled_at, timezone, correlation_id,
                           idempotency_key, created_by, edited_by, campaign_id, series_id, occurrence_key,
                           review_state, submitted_by, submitted_at, findings, reviewed_by, reviewed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($18::text, $9), $10, $11, $12, $13, $14,
                CASE WHEN $15 THEN now() END, $16, $17, CASE WHEN $17::text IS NOT NULL THEN now() END)
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
        campaign_id,
        series_id,
        occurrence_key,
        review_state,
        (submitted_by or created_by) if submitted else None,
        submitted,
        findings or [],
        reviewed_by,
        edited_by,
    )
    await conn.executemany(
        "INSERT INTO targets (target_id, post_id, account_id, platform, due_at, text) VALUES ($1, $2, $3, $4, $5, $6)",
        [(t[0], post_id, t[1], t[2], scheduled_at, t[3] if len(t) > 3 else None) for t in targets],
    )
    if notify:
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
        text=row["text"],
    )


def _review(row: asyncpg.Record) -> ReviewOut:
    return ReviewOut(
        state=row["review_state"],
        created_by=row["created_by"],
        edited_by=row["edited_by"],
        submitted_by=row["submitted_by"],
        submitted_at=row.get("submitted_at"),
        reviewed_by=row["reviewed_by"],
        reviewed_at=row["reviewed_at"],
        comment=row["review_comment"],
    )


def _post(row: asyncpg.Record, targets: list[TargetOut]) -> PostOut:
    return PostOut(
        post_id=row["post_id"],
        status=post_status((t.status for t in targets), row["review_state"]),
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
        campaign_id=row["campaign_id"],
        series_id=row["series_id"],
        occurrence_key=row["occurrence_key"],
        detached=row["detached"],
        review=_review(row),
        findings=row["findings"],
    )


async def get_post(conn: asyncpg.Connection, post_id: UUID, *, for_update: bool = False) -> PostOut | None:
    row = await conn.fetchrow(
        "SELECT * FROM posts WHERE post_id = $1" + (" FOR UPDATE" if for_update else ""), post_id
    )
    if row is None:
        return None
    targets = await conn.fetch(
        "SELECT * FROM targets WHERE post_id = $1 ORDER BY platform, account_id"
        + (" FOR UPDATE" if for_update else ""),
        post_id,
    )
    return _post(row, [_target(t) for t in targets])


async def list_posts(
    conn: asyncpg.Connection,
    *,
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
    campaign_id: UUID | None = None,
    series_id: UUID | None = None,
    review_state: str | None = None,
) -> list[PostOut]:
    rows = await conn.fetch(
        """
        SELECT * FROM posts
        WHERE ($1::timestamptz IS NULL OR scheduled_at >= $1)
          AND ($2::timestamptz IS NULL OR scheduled_at < $2)
          AND ($3::timestamptz IS NULL OR (scheduled_at, post_id) > ($3, $4::uuid))
          AND ($6::uuid IS NULL OR campaign_id = $6)
          AND ($7::uuid IS NULL OR series_id = $7)
          AND ($8::text IS NULL OR review_state = $8)
        ORDER BY scheduled_at, post_id
        LIMIT $5
        """,
        start,
        end,
        after[0] if after else None,
        after[1] if after else None,
        limit,
        campaign_id,
        series_id,
        review_state,
    )
    return await _with_targets(conn, rows)


async def posts_by_id(conn: asyncpg.Connection, post_ids: list[UUID]) -> list[PostOut]:
    rows = await conn.fetch("SELECT * FROM posts WHERE post_id = ANY($1::uuid[]) ORDER BY scheduled_at, post_id", post_ids)
    return await _with_targets(conn, rows)


async def planned_twins(conn: asyncpg.Connection, pairs: list[tuple[datetime, str]]
                        ) -> list[tuple[datetime, str, str, UUID]]:  # fmt: skip
    """(scheduled_at, text, account_id, post_id) of every target not cancelled whose post has one
    of ``pairs``' time and text: what an import would repeat."""
    if not pairs:
        return []
    rows = await conn.fetch(
        """
        SELECT p.scheduled_at, p.text, t.account_id, p.post_id
        FROM posts p JOIN targets t ON t.post_id = p.post_id
        WHERE t.status <> 'cancelled'
          AND (p.scheduled_at, p.text) IN (SELECT * FROM unnest($1::timestamptz[], $2::text[]))
        """,
        [at for at, _ in pairs], [text for _, text in pairs],
    )
    return [(r["scheduled_at"], r["text"], r["account_id"], r["post_id"]) for r in rows]


async def existing_post_ids(conn: asyncpg.Connection, post_ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT post_id FROM posts WHERE post_id = ANY($1::uuid[])", [UUID(p) for p in post_ids])
    return {str(r["post_id"]) for r in rows}


async def _with_targets(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[PostOut]:
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
    campaign_id: UUID | None = None,
    target_texts: dict[str, str | None] | None = None,
    review: dict | None = None,
    detached: bool | None = None,
    findings: list[dict] | None = None,
    revive_not_approved: bool = False,
) -> None:
    """Change a post that has not gone out; ``review`` sets review columns (state, edited_by, …)."""
    review = review or {}
    await conn.execute(
        """
        UPDATE posts SET media_rechecked_at = CASE WHEN media IS DISTINCT FROM $3::jsonb
                                                        OR scheduled_at IS DISTINCT FROM $5
                                                   THEN NULL ELSE media_rechecked_at END,
                         media_recheck_lease = CASE WHEN media IS DISTINCT FROM $3::jsonb
                                                         OR scheduled_at IS DISTINCT FROM $5
                                                    THEN NULL ELSE media_recheck_lease END,
                         text = $2, media = $3, title = $4, scheduled_at = $5, timezone = $6,
                         campaign_id = $7, detached = coalesce($8, detached),
                         findings = coalesce($9, findings),
                         review_state = coalesce($10, review_state),
                         edited_by = coalesce($11, edited_by),
                         submitted_by = CASE WHEN $12::text IS NULL THEN submitted_by ELSE $12 END,
                         submitted_at = CASE WHEN $12::text IS NULL THEN submitted_at ELSE now() END,
                         reviewed_by = CASE WHEN $13 THEN NULL ELSE reviewed_by END,
                         reviewed_at = CASE WHEN $13 THEN NULL ELSE reviewed_at END,
                         version = version + 1, updated_at = now()
        WHERE post_id = $1
        """,
        post_id,
        text,
        [m.model_dump(exclude_none=True) for m in media],
        title,
        scheduled_at,
        timezone,
        campaign_id,
        detached,
        findings,
        review.get("review_state"),
        review.get("edited_by"),
        review.get("submitted_by"),
        bool(review.get("clear_reviewer")),
    )
    if revive_not_approved:
        await conn.execute(
            """
            UPDATE targets SET status = 'scheduled', error_class = NULL, reason = NULL, updated_at = now()
            WHERE post_id = $1 AND status = 'failed' AND error_class = 'not_approved'
            """,
            post_id,
        )
    await conn.execute(
        "UPDATE targets SET due_at = $2, updated_at = now() WHERE post_id = $1 AND status = 'scheduled'",
        post_id,
        scheduled_at,
    )
    if target_texts is not None:
        await conn.executemany(
            "UPDATE targets SET text = $3 WHERE post_id = $1 AND account_id = $2 AND status = 'scheduled'",
            [(post_id, account_id, text) for account_id, text in target_texts.items()],
        )
    await conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)


async def set_findings(conn: asyncpg.Connection, post_id: UUID, findings: list[dict]) -> None:
    """The post's content check findings, as a later look found them (siar_scheduler.recheck): not
    a change of the post (its version stays)."""
    await conn.execute("UPDATE posts SET findings = $2 WHERE post_id = $1", post_id, findings)


async def set_review(
    conn: asyncpg.Connection, post_id: UUID, state: str, *, actor: str | None, comment: str | None,
    submitted: bool = False, reviewed: bool = False, findings: list[dict] | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE posts SET review_state = $2,
               submitted_by = CASE WHEN $4 THEN $3 ELSE submitted_by END,
               submitted_at = CASE WHEN $4 THEN now() ELSE submitted_at END,
               reviewed_by = CASE WHEN $5 THEN $3 WHEN $4 THEN NULL ELSE reviewed_by END,
               reviewed_at = CASE WHEN $5 THEN now() WHEN $4 THEN NULL ELSE reviewed_at END,
               review_comment = CASE WHEN $5 OR $6::text IS NOT NULL THEN $6 ELSE review_comment END,
               findings = coalesce($7, findings),
               version = version + 1, updated_at = now()
        WHERE post_id = $1
        """,
        post_id, state, actor, submitted, reviewed, comment, findings,
    )


async def replace_targets(
    conn: asyncpg.Connection, post_id: UUID, targets: list[tuple[str, str, str | None]], due_at: datetime
) -> None:
    """Make a post that has not gone out target exactly these (account_id, platform, text)."""
    wanted = {account_id for account_id, _, _ in targets}
    await conn.execute(
        "DELETE FROM targets WHERE post_id = $1 AND status = 'scheduled' AND NOT (account_id = ANY($2::text[]))",
        post_id, list(wanted),
    )
    await conn.executemany(
        """
        INSERT INTO targets (target_id, post_id, account_id, platform, due_at, text)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (post_id, account_id) DO UPDATE SET text = EXCLUDED.text, due_at = EXCLUDED.due_at,
            updated_at = now()
        WHERE targets.status = 'scheduled'
        """,
        [(uuid4(), post_id, account_id, platform, due_at, text) for account_id, platform, text in targets],
    )


async def set_target_texts(conn: asyncpg.Connection, post_id: UUID, texts: dict[str, str | None]) -> None:
    await conn.executemany(
        "UPDATE targets SET text = $3, updated_at = now() WHERE post_id = $1 AND account_id = $2 AND status = 'scheduled'",
        [(post_id, account_id, text) for account_id, text in texts.items()],
    )
    await conn.execute("UPDATE posts SET version = version + 1, updated_at = now() WHERE post_id = $1", post_id)


async def delete_post(conn: asyncpg.Connection, post_id: UUID) -> None:
    await conn.execute("DELETE FROM posts WHERE post_id = $1", post_id)


async def series_posts(conn: asyncpg.Connection, series_id: UUID, *, for_update: bool = False) -> list[PostOut]:
    rows = await conn.fetch(
        "SELECT * FROM posts WHERE series_id = $1 ORDER BY scheduled_at, post_id" + (" FOR UPDATE" if for_update else ""),
        series_id,
    )
    if for_update and rows:
        await conn.execute(
            "SELECT 1 FROM targets WHERE post_id = ANY($1::uuid[]) FOR UPDATE", [r["post_id"] for r in rows]
        )
    return await _with_targets(conn, rows)


async def cancel_targets(conn: asyncpg.Connection, post_id: UUID, reason: str) -> list[UUID]:
    """Every target that has not gone out: still scheduled, or handed to the publisher and not
    answered yet ('due') or waiting there to retry ('retrying'). The post.cancelled of those
    stops the publisher's delivery; an attempt already calling the platform cannot be stopped,
    and if it succeeds, its post.published makes the target 'published' (mark_published)."""
    rows = await conn.fetch(
        """
        UPDATE targets SET status = 'cancelled', reason = $2, updated_at = now()
        WHERE post_id = $1 AND status IN ('scheduled', 'due', 'retrying')
        RETURNING target_id
        """,
        post_id,
        reason,
    )
    await conn.execute("UPDATE posts SET version = version + 1, updated_at = now() WHERE post_id = $1", post_id)
    return [r["target_id"] for r in rows]


NOT_APPROVED_REASON = {
    "draft": "Not sent: it was still a draft at its time; submit it, have it approved and set a new time",
    "in_review": "Not sent: no reviewer approved it before its time; have it approved and set a new time",
}


async def claim_due(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Take up to ``limit`` targets whose time has come; replicas skip each other's rows.

    A target of an approved post becomes 'due'; one of a post not approved by its time becomes
    'failed' (error class not_approved) with the reason. Both leave the 'scheduled' status the
    partial index and SECONDS_UNTIL_NEXT_DUE read, so the runner never sees a due row twice.

    The time is read once, in a scalar subquery: compared with clock_timestamp() directly (a
    volatile function) due_at could only be a filter, so every claim walked the whole partial
    index — every future target — to find the few due ones. As the subquery's value it is an
    index condition, and a claim reads only the rows that are due (bench/future.py)."""
    return await conn.fetch(
        """
        WITH due AS (
            SELECT target_id FROM targets
            WHERE status = 'scheduled' AND due_at <= (SELECT clock_timestamp())
            ORDER BY due_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE targets t
        SET status = CASE WHEN p.review_state = 'approved' THEN 'due' ELSE 'failed' END,
            dispatched_at = CASE WHEN p.review_state = 'approved' THEN clock_timestamp() END,
            error_class = CASE WHEN p.review_state = 'approved' THEN NULL ELSE 'not_approved' END,
            reason = CASE WHEN p.review_state = 'approved' THEN NULL
                          WHEN p.review_state = 'draft' THEN $2 ELSE $3 END,
            updated_at = clock_timestamp()
        FROM due, posts p
        WHERE t.target_id = due.target_id AND p.post_id = t.post_id
        RETURNING t.target_id, t.post_id, t.account_id, t.platform, t.due_at, t.status, t.reason,
                  coalesce(t.text, p.text) AS text, p.media, p.title, p.correlation_id, p.campaign_id,
                  p.review_state
        """,
        limit,
        NOT_APPROVED_REASON["draft"],
        NOT_APPROVED_REASON["in_review"],
    )


async def correlation_of(conn: asyncpg.Connection, post_id: UUID) -> str | None:
    return await conn.fetchval("SELECT correlation_id FROM posts WHERE post_id = $1", post_id)


async def mark_published(
    conn: asyncpg.Connection, target_id: UUID, platform_post_id: str, url: str | None,
    published_at: datetime, attempts: int, notice: str | None = None,
) -> None:
    """A target published; ``notice`` (what the library should know about it: YouTube made the
    video private) is kept as its reason."""
    await conn.execute(
        """
        UPDATE targets SET status = 'published', platform_post_id = $2, url = $3, published_at = $4,
               attempts = $5, error_class = NULL, reason = $6, updated_at = now()
        WHERE target_id = $1 AND status <> 'published'
        """,
        target_id, platform_post_id, url, published_at, attempts, notice,
    )


async def mark_published_many(
    conn: asyncpg.Connection, published: list[tuple[UUID, str, str | None, datetime, int, str | None]]
) -> None:
    """:func:`mark_published` for a batch of post.published: (target id, platform post id, url,
    published at, attempts, notice) each, one statement."""
    await conn.execute(
        """
        UPDATE targets t SET status = 'published', platform_post_id = u.platform_post_id, url = u.url,
               published_at = u.published_at, attempts = u.attempts, error_class = NULL, reason = u.notice,
               updated_at = now()
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $6::text[])
             AS u(target_id, platform_post_id, url, published_at, attempts, notice)
        WHERE t.target_id = u.target_id AND t.status <> 'published'
        """,
        *(list(column) for column in zip(*published, strict=True)),
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


async def overdue(conn: asyncpg.Connection, grace_seconds: float) -> tuple[int, float]:
    """Targets still waiting more than ``grace_seconds`` after their time — none while dispatch
    works — and how long the oldest has waited (0 when none). Reads the targets_due index only."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS n, coalesce(extract(epoch FROM clock_timestamp() - min(due_at)), 0)::float8 AS oldest
        FROM targets
        WHERE status = 'scheduled' AND due_at < (SELECT clock_timestamp()) - make_interval(secs => $1)
        """,
        grace_seconds,
    )
    return row["n"], row["oldest"]

