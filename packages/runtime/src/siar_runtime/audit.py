"""The audit log every service that takes people's changes keeps in its own schema: who did what,
when. Append-only (a trigger refuses UPDATE and DELETE), written in the transaction of the change
it records, read a page at a time oldest first (``GET /v1/audit``). ``siar audit`` shows the
scheduler's, the publisher's and the feedback service's as one log.

Each service's migration creates the table::

    CREATE TABLE audit_log (
        id        bigserial PRIMARY KEY,
        at        timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor     text NOT NULL,
        role      text,
        action    text NOT NULL,
        entity    text NOT NULL,
        entity_id text,
        details   jsonb NOT NULL DEFAULT '{}'
    );
"""

# No "from __future__ import annotations": add_route's endpoint takes its parameters' types from
# the enclosing function's arguments, which FastAPI could not find in strings.
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel

from .problems import PROBLEM_JSON, TYPE_BASE, Problem


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    entity: str
    entity_id: str | None
    details: dict[str, Any]


class AuditList(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None = None


SYSTEM_ACTOR, SYSTEM_ROLE = "siar", "system"
"""Who an entry names when Siar itself acted (a post not approved by its time, a survey's closing
date): the same in every service's log."""

_INSERT = "INSERT INTO audit_log (actor, role, action, entity, entity_id, details) VALUES ($1, $2, $3, $4, $5, $6)"


async def append(
    conn: asyncpg.Connection, *, actor: str, role: str | None, action: str, entity: str,
    entity_id: str | UUID | None, details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(_INSERT, actor, role, action, entity, None if entity_id is None else str(entity_id),
                       details or {})


async def append_many(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """rows: (actor, role, action, entity, entity_id, details)."""
    await conn.executemany(_INSERT, rows)


def after(cursor: str | None) -> int | None:
    """The id a page starts after: the ``next_cursor`` of the previous page; a 400 for any other."""
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit()):  # "²" is a digit int() refuses
        raise Problem(400, "Bad request", "the cursor is not one this API gave out", type_=TYPE_BASE + "bad-cursor")
    return int(cursor)


async def page(
    conn: asyncpg.Connection, *, entity: str | None, entity_id: str | None, actor: str | None,
    start: datetime | None, end: datetime | None, cursor: str | None, limit: int,
) -> AuditList:
    """One page of the log, oldest first, with the cursor of the next while there may be more."""
    rows = await conn.fetch(
        """
        SELECT * FROM audit_log
        WHERE ($1::text IS NULL OR entity = $1) AND ($2::text IS NULL OR entity_id = $2)
          AND ($3::text IS NULL OR actor = $3)
          AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
          AND ($6::bigint IS NULL OR id > $6)
        ORDER BY id LIMIT $7
        """,
        entity, entity_id, actor, start, end, after(cursor), limit,
    )
    entries = [AuditEntry(**dict(r)) for r in rows]
    return AuditList(entries=entries, next_cursor=str(entries[-1].id) if len(entries) == limit else None)


def add_route(api: APIRouter, caller_dep: Any, pool_dep: Any, *, what: str, entities: str) -> None:
    """``GET /audit`` on ``api`` for a service whose log has no local times to read (the
    scheduler's takes days in the library's zone and has its own route): ``from`` and ``to`` are
    times with their offset. ``what``: the summary's words; ``entities``: what ``entity`` takes."""

    @api.get("/audit", response_model=AuditList, tags=["audit"], summary=f"The audit log: {what} (append-only)",
             responses={400: {"description": "A cursor this API did not give out", "content": {PROBLEM_JSON: {}}}})
    async def audit(
        caller: caller_dep, db: pool_dep,
        entity: Annotated[str | None, Query(description=entities)] = None,
        entity_id: str | None = None,
        by: Annotated[str | None, Query(description="Only what this actor did")] = None,
        start: Annotated[datetime | None, Query(alias="from", description="From this time (with its offset)")] = None,
        end: Annotated[datetime | None, Query(alias="to", description="Before this time (with its offset)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> AuditList:
        for name, when in (("from", start), ("to", end)):
            if when is not None and when.tzinfo is None:
                raise Problem(422, "Invalid request", f"'{name}' needs an offset (2026-12-01T00:00:00+07:00 or Z)",
                              type_=TYPE_BASE + "validation")
        if start and end and end <= start:
            raise Problem(422, "Invalid request", "'to' must be after 'from'", type_=TYPE_BASE + "validation")
        async with db.acquire() as conn:
            return await page(conn, entity=entity, entity_id=entity_id, actor=by, start=start, end=end,
                              cursor=cursor, limit=limit)
