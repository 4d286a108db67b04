"""The per-account sliding log on the real PostgreSQL: grants up to the limit in any window,
defers the rest until the oldest sends leave it, forgets what left it, and keeps accounts apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from siar_publisher import ratelimits
from siar_runtime.db import Database


@pytest.fixture
async def db(clean_db):
    db = await Database.open(clean_db, "publisher")
    async with db.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO accounts (account_id, platform, handle, base_url, credentials, rate_limit,"
            " rate_window_seconds) VALUES"
            " ('a1', 'mastodon', 'one', 'http://sandbox/mastodon', '\\x00', 3, 3600),"
            " ('a2', 'mastodon', 'two', 'http://sandbox/mastodon', '\\x00', 3, 3600)"
        )
    yield db
    await db.close()


def rows(account_id: str, n: int) -> list[dict]:
    return [{"account_id": account_id, "target_id": f"{account_id}-{i}"} for i in range(n)]


async def admit(db: Database, claimed: list[dict]) -> ratelimits.Admission:
    async with db.pool.acquire() as conn, conn.transaction():
        return await ratelimits.admit(conn, claimed)


async def sends(db: Database, account_id: str) -> list:
    async with db.pool.acquire() as conn:
        return [r[0] for r in await conn.fetch(
            "SELECT sent_at FROM account_sends WHERE account_id = $1 ORDER BY sent_at", account_id)]


async def test_grants_up_to_the_limit_and_defers_the_rest_until_the_oldest_sends_leave_the_window(db):
    window = ratelimits.Rate(3, 3600).guarded_window
    first = await admit(db, rows("a1", 2))
    assert [r["target_id"] for r in first.granted] == ["a1-0", "a1-1"] and first.deferred == []
    log = await sends(db, "a1")
    assert len(log) == 2

    second = await admit(db, rows("a1", 4))
    assert [r["target_id"] for r in second.granted] == ["a1-0"]
    log = await sends(db, "a1")
    assert len(log) == 3
    # The three that wait go when the first, second and third send leave the window.
    assert [(r["target_id"], at) for r, at in second.deferred] == [
        ("a1-1", log[0] + window), ("a1-2", log[1] + window), ("a1-3", log[2] + window)]

    # The other account has a log of its own.
    other = await admit(db, rows("a2", 3))
    assert len(other.granted) == 3 and other.deferred == []


async def test_sends_that_left_the_window_are_forgotten_and_free_their_slots(db):
    async with db.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO account_sends (account_id, sent_at) SELECT 'a1', now() - $1::interval"
            " FROM generate_series(1, 3)", timedelta(hours=2))
    admitted = await admit(db, rows("a1", 3))
    assert len(admitted.granted) == 3 and admitted.deferred == []
    log = await sends(db, "a1")
    assert len(log) == 3 and min(log) > max(log) - timedelta(seconds=5)  # only today's three


async def test_a_full_window_defers_more_than_it_holds_to_its_last_send(db):
    await admit(db, rows("a1", 3))
    log = await sends(db, "a1")
    window = ratelimits.Rate(3, 3600).guarded_window
    waiting = await admit(db, rows("a1", 5))
    assert waiting.granted == []
    assert [at for _, at in waiting.deferred] == [log[0] + window, log[1] + window, log[2] + window,
                                                   log[2] + window, log[2] + window]
