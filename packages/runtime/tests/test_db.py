"""The pool's release: no reset query in service, a check for session state under test."""

from __future__ import annotations

import pytest
from siar_runtime.db import Database, SessionStateLeft


async def _pool(database_url, monkeypatch, check: bool) -> Database:
    monkeypatch.setenv("SIAR_DB_CHECK_SESSION", "1" if check else "0")
    return await Database.open(database_url, "publisher", min_size=1, max_size=1)


async def test_a_released_connection_costs_no_round_trip(database_url, monkeypatch):
    db = await _pool(database_url, monkeypatch, check=False)
    try:
        sent: list[str] = []
        async with db.pool.acquire() as conn:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.fetchval("SELECT 1")
        async with db.pool.acquire() as again:
            await again.fetchval("SELECT 2")
        async with db.pool.acquire() as again:
            assert await again.fetchval("SELECT pg_backend_pid()") == backend  # the one connection throughout
        # asyncpg's default reset would have sent "SELECT pg_advisory_unlock_all(); CLOSE ALL; …" between.
        assert sent[:2] == ["SELECT 1", "SELECT 2"]
    finally:
        await db.close()


async def test_a_transaction_left_open_is_still_rolled_back(database_url, monkeypatch):
    db = await _pool(database_url, monkeypatch, check=False)
    try:
        async with db.pool.acquire() as conn:
            await conn.transaction().start()  # and never committed
            await conn.execute("CREATE TABLE public.siar_left_open_probe (n int)")
        async with db.pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('public.siar_left_open_probe')") is None
    finally:
        await db.close()


@pytest.mark.parametrize(("statement", "named"), [
    ("SET work_mem = '8MB'", "the setting work_mem"),
    ("LISTEN siar_probe", "LISTEN siar_probe"),
    ("SELECT pg_advisory_lock(42)", "an advisory lock"),
])
async def test_under_test_session_state_left_on_a_pooled_connection_fails_loudly(database_url, monkeypatch,
                                                                                   statement, named):
    db = await _pool(database_url, monkeypatch, check=True)
    try:
        with pytest.raises(SessionStateLeft, match=named):
            async with db.pool.acquire() as conn:
                await conn.execute(statement)
        async with db.pool.acquire() as conn:  # the offending connection was closed; a fresh one is clean
            assert await conn.fetchval("SHOW work_mem") != "8MB"
            assert await conn.fetch("SELECT pg_listening_channels()") == []
    finally:
        await db.close()


async def test_under_test_transaction_scoped_state_passes(database_url, monkeypatch):
    db = await _pool(database_url, monkeypatch, check=True)
    try:
        async with db.pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL work_mem = '8MB'")
            await conn.execute("SELECT pg_advisory_xact_lock(42)")
        async with db.pool.acquire() as conn:
            assert await conn.fetchval("SHOW work_mem") != "8MB"
    finally:
        await db.close()
