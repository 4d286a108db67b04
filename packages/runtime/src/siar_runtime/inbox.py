"""Inbox deduplication: a consumer records ``(source, id)`` of each event in the same
transaction as its effects, so a redelivered or republished event changes nothing.

Each consuming service's first migration creates::

    CREATE TABLE inbox (
        source      text NOT NULL,
        event_id    text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (source, event_id)
    );
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from siar_contracts import CloudEvent


async def first_delivery(conn: asyncpg.Connection, event: CloudEvent) -> bool:
    """True the first time this event is seen; must run inside the handler's transaction."""
    inserted = await conn.fetchval(
        "INSERT INTO inbox (source, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        event.source,
        event.id,
    )
    return inserted is not None


async def first_deliveries(conn: asyncpg.Connection, events: Sequence[CloudEvent]) -> list[CloudEvent]:
    """The events seen here for the first time, in their order and each once (a batch may hold
    the same event twice); one statement, inside the batch handler's transaction."""
    fresh = await conn.fetch(
        "INSERT INTO inbox (source, event_id) SELECT * FROM unnest($1::text[], $2::text[])"
        " ON CONFLICT DO NOTHING RETURNING source, event_id",
        [e.source for e in events],
        [e.id for e in events],
    )
    keys = {(r["source"], r["event_id"]) for r in fresh}
    first = []
    for e in events:
        if (e.source, e.id) in keys:
            keys.discard((e.source, e.id))
            first.append(e)
    return first


async def prune(conn: asyncpg.Connection, keep_days: int = 14) -> int:
    """Forget events older than any redelivery could be (the broker keeps nothing that long)."""
    status = await conn.execute(
        "DELETE FROM inbox WHERE received_at < now() - make_interval(days => $1)", keep_days
    )
    return int(status.split()[-1])
