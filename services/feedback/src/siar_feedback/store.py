"""SQL for surveys, questions, responses and answers: the only place that knows the feedback
service's tables. Every value a patron sends travels as a bind parameter, never as SQL text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from .answers import Answer
from .schemas import AnnounceTarget, Localized, QuestionIn, Survey

DUE_CHANNEL = "feedback_due"

SECONDS_UNTIL_NEXT_CHANGE = (
    "SELECT extract(epoch FROM min(t) - clock_timestamp())::float8 FROM ("
    " SELECT min(opens_at) AS t FROM surveys WHERE status = 'scheduled'"
    " UNION ALL SELECT min(closes_at) FROM surveys WHERE status = 'open' AND closes_at IS NOT NULL"
    ") AS next"
)
"""Seconds until the next survey opens or closes by its dates (negative: overdue; NULL: none)."""

_UPDATABLE = frozenset({
    "title", "intro", "thank_you", "opens_at", "closes_at", "timezone", "channels",
    "one_response_per_patron", "rate_limit_per_minute", "announce", "announce_text", "announce_language",
    "announce_edited_by",
})


_JSON_COLUMNS = frozenset({"title", "intro", "thank_you", "announce", "announce_text"})


def _param(column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS:
        return _json(value)
    if column == "channels":
        return list(value)
    return value


def _json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value.model_dump(mode="json", exclude_none=True)


async def insert_survey(
    conn: asyncpg.Connection,
    *,
    survey_id: UUID,
    slug: str,
    values: Mapping[str, Any],
    questions: list[QuestionIn],
    correlation_id: str,
    created_by: str,
) -> bool:
    """False when the slug is taken."""
    inserted = await conn.fetchval(
        """
        INSERT INTO surveys (survey_id, slug, title, intro, thank_you, opens_at, closes_at, timezone,
                             channels, one_response_per_patron, rate_limit_per_minute, announce,
                             announce_text, announce_language, correlation_id, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
        ON CONFLICT (slug) DO NOTHING
        RETURNING 1
        """,
        survey_id, slug, _json(values["title"]), _json(values.get("intro")), _json(values.get("thank_you")),
        values.get("opens_at"), values.get("closes_at"), values["timezone"], list(values["channels"]),
        values["one_response_per_patron"], values["rate_limit_per_minute"], _json(values["announce"]),
        _json(values.get("announce_text")), values["announce_language"], correlation_id, created_by,
    )
    if inserted is None:
        return False
    await replace_questions(conn, survey_id, questions)
    await conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)
    return True


async def replace_questions(conn: asyncpg.Connection, survey_id: UUID, questions: list[QuestionIn]) -> None:
    await conn.execute("DELETE FROM questions WHERE survey_id = $1", survey_id)
    await conn.executemany(
        """
        INSERT INTO questions (survey_id, key, position, kind, required, text, help, options, identifying)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        [
            (survey_id, q.key, i, q.kind, q.required, _json(q.text), _json(q.help), _json(q.options), q.identifying)
            for i, q in enumerate(questions)
        ],
    )


async def update_survey(conn: asyncpg.Connection, survey_id: UUID, values: Mapping[str, Any]) -> None:
    columns = [name for name in values if name in _UPDATABLE]  # column names from code, never input
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    params = [_param(name, values[name]) for name in columns]
    await conn.execute(
        f"UPDATE surveys SET {assignments}{', ' if columns else ''}version = version + 1, updated_at = now()"
        " WHERE survey_id = $1",
        survey_id, *params,
    )
    await conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)


def _survey(row: asyncpg.Record, questions: list[asyncpg.Record], responses: int) -> Survey:
    return Survey(
        survey_id=row["survey_id"],
        slug=row["slug"],
        status=row["status"],
        title=Localized(**row["title"]),
        intro=Localized(**row["intro"]) if row["intro"] else None,
        thank_you=Localized(**row["thank_you"]) if row["thank_you"] else None,
        questions=[
            QuestionIn(
                key=q["key"], kind=q["kind"], required=q["required"], text=q["text"], help=q["help"],
                options=q["options"], identifying=q["identifying"],
            )
            for q in questions
        ],
        opens_at=row["opens_at"],
        closes_at=row["closes_at"],
        timezone=row["timezone"],
        channels=list(row["channels"]),
        one_response_per_patron=row["one_response_per_patron"],
        rate_limit_per_minute=row["rate_limit_per_minute"],
        announce=[AnnounceTarget(**a) for a in row["announce"]],
        announce_text=Localized(**row["announce_text"]) if row["announce_text"] else None,
        announce_language=row["announce_language"],
        correlation_id=row["correlation_id"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        close_reason=row["close_reason"],
        responses=responses,
    )


async def get_survey(
    conn: asyncpg.Connection, ref: UUID | str, *, lock: bool = False, count: bool = True
) -> Survey | None:
    """By id or slug; ``lock`` takes the row for a change of state."""
    column = "survey_id" if isinstance(ref, UUID) else "slug"  # a column name from code, never input
    row = await conn.fetchrow(f"SELECT * FROM surveys WHERE {column} = $1{' FOR UPDATE' if lock else ''}", ref)
    if row is None:
        return None
    questions = await conn.fetch("SELECT * FROM questions WHERE survey_id = $1 ORDER BY position", row["survey_id"])
    responses = (
        await conn.fetchval("SELECT count(*) FROM responses WHERE survey_id = $1", row["survey_id"]) if count else 0
    )
    return _survey(row, questions, responses)


async def lock_for_response(conn: asyncpg.Connection, survey_id: UUID) -> asyncpg.Record | None:
    """The survey's state, held FOR SHARE while a response is added: responses go in side by side,
    and a close waits for those in flight, so the results it announces count them all."""
    return await conn.fetchrow(
        "SELECT status, closes_at, one_response_per_patron, rate_limit_per_minute FROM surveys"
        " WHERE survey_id = $1 FOR SHARE",
        survey_id,
    )


async def list_surveys(conn: asyncpg.Connection, status: str | None, limit: int) -> list[Survey]:
    rows = await conn.fetch(
        "SELECT * FROM surveys WHERE ($1::text IS NULL OR status = $1) ORDER BY created_at DESC LIMIT $2",
        status, limit,
    )
    if not rows:
        return []
    ids = [r["survey_id"] for r in rows]
    questions = await conn.fetch(
        "SELECT * FROM questions WHERE survey_id = ANY($1::uuid[]) ORDER BY survey_id, position", ids
    )
    counts = await conn.fetch(
        "SELECT survey_id, count(*) AS n FROM responses WHERE survey_id = ANY($1::uuid[]) GROUP BY survey_id", ids
    )
    by_survey: dict[UUID, list[asyncpg.Record]] = {}
    for q in questions:
        by_survey.setdefault(q["survey_id"], []).append(q)
    n = {c["survey_id"]: c["n"] for c in counts}
    return [_survey(r, by_survey.get(r["survey_id"], []), n.get(r["survey_id"], 0)) for r in rows]


async def set_status(
    conn: asyncpg.Connection, survey_id: UUID, status: str, *, opens_at: datetime | None = None,
    announce: list[AnnounceTarget] | None = None, close_reason: str | None = None,
    announce_edited_by: str | None = None,
) -> None:
    await conn.execute(
        """
        UPDATE surveys SET status = $2,
               opens_at = COALESCE($3, opens_at),
               announce = COALESCE($4, announce),
               announce_edited_by = COALESCE($6, announce_edited_by),
               opened_at = CASE WHEN $2 = 'open' THEN clock_timestamp() ELSE opened_at END,
               closed_at = CASE WHEN $2 = 'closed' THEN clock_timestamp() ELSE NULL END,
               close_reason = CASE WHEN $2 = 'closed' THEN $5 ELSE NULL END,
               version = version + 1, updated_at = now()
        WHERE survey_id = $1
        """,
        survey_id, status, opens_at, _json(announce), close_reason, announce_edited_by,
    )
    await conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)


async def claim_openings(conn: asyncpg.Connection, limit: int) -> list[UUID]:
    """Scheduled surveys whose opening date has come, marked open; replicas skip each other's."""
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT survey_id FROM surveys
            WHERE status = 'scheduled' AND opens_at <= (SELECT clock_timestamp())
            ORDER BY opens_at LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE surveys s SET status = 'open', opened_at = clock_timestamp(), version = version + 1,
               updated_at = clock_timestamp()
        FROM due WHERE s.survey_id = due.survey_id
        RETURNING s.survey_id
        """,
        limit,
    )
    return [r["survey_id"] for r in rows]


async def claim_closings(conn: asyncpg.Connection, limit: int) -> list[UUID]:
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT survey_id FROM surveys
            WHERE status = 'open' AND closes_at <= (SELECT clock_timestamp())
            ORDER BY closes_at LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE surveys s SET status = 'closed', closed_at = clock_timestamp(),
               close_reason = 'closing_date_reached', version = version + 1, updated_at = clock_timestamp()
        FROM due WHERE s.survey_id = due.survey_id
        RETURNING s.survey_id
        """,
        limit,
    )
    return [r["survey_id"] for r in rows]


async def client_rate_hit(conn: asyncpg.Connection, survey_id: UUID, client: bytes) -> int:
    """Count one page response from this client (a hash of its address) in this minute's window
    of the survey; returns the window's count so far."""
    return await conn.fetchval(
        """
        INSERT INTO client_rate_windows (survey_id, client, window_start, hits)
        VALUES ($1, $2, date_trunc('minute', clock_timestamp()), 1)
        ON CONFLICT (survey_id, client, window_start) DO UPDATE SET hits = client_rate_windows.hits + 1
        RETURNING hits
        """,
        survey_id, client,
    )


async def rate_hit(conn: asyncpg.Connection, survey_id: UUID) -> int:
    """Count one page response in this minute's window of the survey (every client together);
    returns the window's count so far."""
    return await conn.fetchval(
        """
        INSERT INTO rate_windows (survey_id, window_start, hits)
        VALUES ($1, date_trunc('minute', clock_timestamp()), 1)
        ON CONFLICT (survey_id, window_start) DO UPDATE SET hits = rate_windows.hits + 1
        RETURNING hits
        """,
        survey_id,
    )


async def prune_rate_windows(conn: asyncpg.Connection) -> None:
    """Forget rate-limit windows after ten minutes, and used form tokens once no token that old
    is taken any more (settings cap a token's life at seven days)."""
    await conn.execute("DELETE FROM rate_windows WHERE window_start < now() - interval '10 minutes'")
    await conn.execute("DELETE FROM client_rate_windows WHERE window_start < now() - interval '10 minutes'")
    await conn.execute("DELETE FROM form_submissions WHERE used_at < now() - interval '8 days'")


async def use_form_token(conn: asyncpg.Connection, survey_id: UUID, nonce: bytes) -> bool:
    """Mark a form token's nonce used; False when a response already came with it. A second
    transaction with the same nonce waits here for the first and then gets False."""
    return bool(await conn.fetchval(
        "INSERT INTO form_submissions (survey_id, nonce) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        survey_id, nonce,
    ))


async def insert_response(
    conn: asyncpg.Connection,
    *,
    response_id: UUID,
    survey_id: UUID,
    channel: str,
    source: str,
    language: str | None,
    patron_hash: bytes | None,
    submitted_at: datetime | None,
) -> datetime | None:
    """The response's time, or None when this patron already answered the survey."""
    return await conn.fetchval(
        """
        INSERT INTO responses (response_id, survey_id, channel, source, language, patron_hash, submitted_at)
        VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, clock_timestamp()))
        ON CONFLICT (survey_id, patron_hash) WHERE patron_hash IS NOT NULL DO NOTHING
        RETURNING submitted_at
        """,
        response_id, survey_id, channel, source, language, patron_hash, submitted_at,
    )


async def insert_answers(
    conn: asyncpg.Connection, response_id: UUID, survey_id: UUID, answers: Mapping[str, Answer]
) -> None:
    await conn.executemany(
        "INSERT INTO answers (response_id, survey_id, question_key, score, choices, text)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [
            (response_id, survey_id, key, a.score, list(a.choices) if a.choices is not None else None, a.text)
            for key, a in answers.items()
        ],
    )


async def has_answered(conn: asyncpg.Connection, survey_id: UUID, patron_hash: bytes) -> bool:
    return bool(await conn.fetchval(
        "SELECT 1 FROM responses WHERE survey_id = $1 AND patron_hash = $2", survey_id, patron_hash
    ))


async def channel_counts(conn: asyncpg.Connection, survey_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT channel, count(*) AS n FROM responses WHERE survey_id = $1 GROUP BY channel ORDER BY channel",
        survey_id,
    )


async def answer_counts(conn: asyncpg.Connection, survey_id: UUID) -> list[asyncpg.Record]:
    """(question_key, channel, value, n): value is a score or a chosen option key, as text."""
    return await conn.fetch(
        """
        SELECT a.question_key, r.channel, a.score::text AS value, count(*) AS n
        FROM answers a JOIN responses r USING (response_id)
        WHERE a.survey_id = $1 AND a.score IS NOT NULL
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT a.question_key, r.channel, c.choice AS value, count(*) AS n
        FROM answers a JOIN responses r USING (response_id), unnest(a.choices) AS c(choice)
        WHERE a.survey_id = $1 AND a.choices IS NOT NULL
        GROUP BY 1, 2, 3
        """,
        survey_id,
    )


async def answered_counts(conn: asyncpg.Connection, survey_id: UUID) -> list[asyncpg.Record]:
    """(question_key, channel, n): responses that answered each question."""
    return await conn.fetch(
        """
        SELECT a.question_key, r.channel, count(*) AS n
        FROM answers a JOIN responses r USING (response_id)
        WHERE a.survey_id = $1
        GROUP BY 1, 2
        """,
        survey_id,
    )


EXPORT_PREFETCH = 500
"""Rows a text-answer export reads from the database at a time."""


async def text_answers(
    conn: asyncpg.Connection, survey_id: UUID, question_key: str | None, *, prefetch: int = EXPORT_PREFETCH,
) -> AsyncIterator[asyncpg.Record]:
    """The free-text answers through a server-side cursor, ``prefetch`` rows at a time, so an
    export holds a few hundred rows in memory however many there are. Iterate it inside a
    transaction (a cursor lives in one)."""
    async for row in conn.cursor(
        """
        SELECT r.response_id, r.submitted_at, r.channel, a.question_key, a.text
        FROM answers a JOIN responses r USING (response_id)
        WHERE a.survey_id = $1 AND a.text IS NOT NULL AND ($2::text IS NULL OR a.question_key = $2)
        ORDER BY r.submitted_at, r.response_id, a.question_key
        """,
        survey_id, question_key, prefetch=prefetch,
    ):
        yield row


async def open_nps(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """(slug, promoters, detractors, n) over the NPS answers of every open survey."""
    return await conn.fetch(
        """
        SELECT s.slug,
               count(a.score) FILTER (WHERE a.score >= 9) AS promoters,
               count(a.score) FILTER (WHERE a.score <= 6) AS detractors,
               count(a.score) AS n
        FROM surveys s
        LEFT JOIN questions q ON q.survey_id = s.survey_id AND q.kind = 'nps'
        LEFT JOIN answers a ON a.survey_id = s.survey_id AND a.question_key = q.key
        WHERE s.status = 'open'
        GROUP BY s.slug
        """
    )
