"""The asyncpg pool, with each service's own schema first on the search path.

A connection goes back to the pool without asyncpg's reset query (``SELECT
pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``): that is a round trip to
PostgreSQL on every release — in a burst, one per transaction, 3 % of the publisher's CPU
(py-spy) and a statement's work for the database — undoing state Siar never leaves on a pooled
connection. The rule that makes this safe: **no session state on a pooled connection** — settings
only with ``SET LOCAL`` inside a transaction, advisory locks only ``pg_advisory_xact_lock``,
LISTEN only on a connection of its own (:meth:`Database.connect_listener`), no ``WITH HOLD``
cursors. A transaction left open is still rolled back on release (asyncpg does that before the
pool's reset). Tests run with ``SIAR_DB_CHECK_SESSION=1``: every release then asks PostgreSQL
whether the connection kept any such state and fails loudly if it did."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (see the module's docstring)."""


# A setting counts only when it differs from what RESET ALL would give: asyncpg's type
# introspection turns jit off and back on with set_config(..., false), which marks it 'session'.
_SESSION_STATE = """
SELECT 'the setting ' || name FROM pg_settings WHERE source = 'session' AND setting IS DISTINCT FROM reset_val
UNION ALL SELECT 'LISTEN ' || channel FROM pg_listening_channels() AS channel
UNION ALL SELECT 'an advisory lock' FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
UNION ALL SELECT 'the cursor ' || name FROM pg_cursors WHERE is_holdable
"""


class SessionStateLeft(RuntimeError):
    """A pooled connection was released holding session state (the module's rule broken)."""


async def _check_session(conn: asyncpg.Connection) -> None:
    """The pool's reset under test: fail if the connection kept session state."""
    left = [r[0] for r in await conn.fetch(_SESSION_STATE)]
    if left:
        raise SessionStateLeft(f"a pooled connection was released holding {', '.join(left)}; use SET LOCAL, "
                               "pg_advisory_xact_lock or a connection of its own")


def _pool_reset():
    return _check_session if os.environ.get("SIAR_DB_CHECK_SESSION") == "1" else _keep_session


def _server_settings(schema: str) -> dict[str, str]:
    # UTC, so that timestamps PostgreSQL renders as text (JSON built in SQL, CSV) read the same
    # whatever the server's own time zone is; extra_float_digits 1 (the default), so that numbers
    # it renders as text are exact whatever a server sets (0 or less would round them).
    return {"search_path": f"{schema},public", "application_name": f"siar-{schema}", "TimeZone": "UTC",
            "extra_float_digits": "1"}


async def connect(dsn: str, schema: str) -> asyncpg.Connection:
    """A single connection set up like the pool's (schema first, JSON codecs)."""
    conn = await asyncpg.connect(dsn, server_settings=_server_settings(schema), timeout=10)
    await _init_connection(conn)
    return conn


@dataclass
class Database:
    dsn: str
    schema: str
    pool: asyncpg.Pool

    @classmethod
    async def open(cls, dsn: str, schema: str, *, min_size: int = 2, max_size: int = 10) -> Database:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            reset=_pool_reset(),
            server_settings=_server_settings(schema),
            command_timeout=30,
        )
        return cls(dsn=dsn, schema=schema, pool=pool)

    async def connect_listener(self) -> asyncpg.Connection:
        """A connection of its own for LISTEN, outside the pool, living as long as its user."""
        return await asyncpg.connect(self.dsn, server_settings=_server_settings(self.schema), timeout=10)

    async def ping(self) -> None:
        async with self.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        await self.pool.close()
