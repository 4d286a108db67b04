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


async def prune(conn: asyncpg.Connection, keep_days: int = 14) -> int:
    """Forget events older than any redelivery could be (the broker keeps nothing that long)."""
    status = await conn.execute(
        "DELETE FROM inbox WHERE received_at < now() - make_interval(days => $1)", keep_days
    )
    return int(status.split()[-1])
