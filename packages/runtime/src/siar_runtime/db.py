"""The asyncpg pool, with each service's own schema first on the search path."""

from __future__ import annotations

import json
from dataclasses import dataclass

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def _server_settings(schema: str) -> dict[str, str]:
    # UTC, so that timestamps PostgreSQL renders as text (JSON built in SQL, CSV) read the same
    # whatever the server's own time zone is.
    return {"search_path": f"{schema},public", "application_name": f"siar-{schema}", "TimeZone": "UTC"}


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
