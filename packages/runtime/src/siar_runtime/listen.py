"""Postgres LISTEN that wakes an asyncio.Event, reconnecting after the database comes back."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from .db import Database


class Wakeup:
    """An event set in-process (``wake()``) or by a NOTIFY on ``channel`` from any replica."""

    def __init__(self, db: Database, channel: str) -> None:
        self.db = db
        self.channel = channel
        self.event = asyncio.Event()
        self._conn: asyncpg.Connection | None = None

    def wake(self) -> None:
        self.event.set()

    async def ensure_listening(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            return
        await self.close()
        conn = await self.db.connect_listener()
        await conn.add_listener(self.channel, lambda *_: self.event.set())
        self._conn = conn
        # Anything notified while we were not listening is picked up by the caller's next pass.
        self.event.set()

    async def wait(self, timeout: float) -> None:
        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), timeout)
        self.event.clear()

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
