"""Fixtures the publisher's tests share (a module with a ``db`` of its own keeps it)."""

from __future__ import annotations

import pytest
from siar_runtime.db import Database


@pytest.fixture
async def db(clean_db):
    """The publisher's database with one connected Mastodon account, ``a1``."""
    db = await Database.open(clean_db, "publisher")
    async with db.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO accounts (account_id, platform, handle, base_url, credentials)"
            " VALUES ('a1', 'mastodon', 'perpus', 'http://sandbox/mastodon', '\\x00')"
        )
    yield db
    await db.close()
