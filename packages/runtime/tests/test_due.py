"""The due-rows runner: precise wake-up, NOTIFY, and replicas that never take the same row."""

from __future__ import annotations

import asyncio
import time

import pytest
from siar_runtime.db import Database
from siar_runtime.due import DueRunner

SCHEMA = "due_test"


@pytest.fixture
async def db(database_url):
    db = await Database.open(database_url, SCHEMA)
    async with db.pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
        await conn.execute(
            f"CREATE TABLE {SCHEMA}.rows (id int PRIMARY KEY, due_at timestamptz NOT NULL,"
            " claimed_by text, claimed_at timestamptz)"
        )
        # Every claim is also appended here, so a row handed out twice would show twice.
        await conn.execute(f"CREATE TABLE {SCHEMA}.claims (id int NOT NULL, claimed_by text NOT NULL)")
    yield db
    async with db.pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    await db.close()


NEXT = "SELECT extract(epoch FROM min(due_at) - clock_timestamp())::float8 FROM rows WHERE claimed_by IS NULL"


def runner(db: Database, name: str, batch: int = 100) -> DueRunner:
    async def claim(conn, limit):
        rows = await conn.fetch(
            """
            WITH due AS (SELECT id FROM rows WHERE claimed_by IS NULL AND due_at <= clock_timestamp()
                         ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            UPDATE rows r SET claimed_by = $2, claimed_at = clock_timestamp() FROM due
            WHERE r.id = due.id RETURNING r.id
            """,
            limit,
            name,
        )
        await conn.executemany("INSERT INTO claims VALUES ($1, $2)", [(r["id"], name) for r in rows])
        return rows

    return DueRunner(db, name=name, channel="due_test", seconds_until_next_sql=NEXT, claim=claim,
                     batch=batch, sweep_seconds=30)


async def test_a_row_is_claimed_at_its_time_not_at_the_next_sweep(db):
    r = runner(db, "one")
    r.start()
    try:
        await asyncio.sleep(0.2)  # the runner is asleep on an empty table (sweep in 30 s)
        async with db.pool.acquire() as conn:
            # Inserted while the runner sleeps: NOTIFY wakes it to look at the new earliest time.
            await conn.execute(
                "INSERT INTO rows VALUES (1, clock_timestamp() + interval '700 milliseconds');"
                " NOTIFY due_test"
            )
        deadline = time.monotonic() + 5
        lateness = None
        while time.monotonic() < deadline:
            async with db.pool.acquire() as conn:
                lateness = await conn.fetchval(
                    "SELECT extract(epoch FROM claimed_at - due_at)::float8 FROM rows WHERE claimed_by IS NOT NULL"
                )
            if lateness is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        await r.stop()
    assert lateness is not None, "the row was never claimed"
    assert 0 <= lateness < 0.5  # a fraction of a second, not the 30 s sweep


async def test_replicas_claim_every_row_exactly_once(db):
    async with db.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO rows SELECT g, clock_timestamp() + interval '300 milliseconds' FROM generate_series(1, 3000) g"
        )
    replicas = [runner(db, f"r{i}", batch=250) for i in range(3)]
    for r in replicas:
        r.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            async with db.pool.acquire() as conn:
                left = await conn.fetchval("SELECT count(*) FROM rows WHERE claimed_by IS NULL")
            if left == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        for r in replicas:
            await r.stop()
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM rows WHERE claimed_by IS NULL") == 0
        claims = await conn.fetchval("SELECT count(*) FROM claims")
        distinct = await conn.fetchval("SELECT count(DISTINCT id) FROM claims")
        replicas_used = await conn.fetchval("SELECT count(DISTINCT claimed_by) FROM claims")
    assert (claims, distinct) == (3000, 3000)
    assert replicas_used >= 2  # the work really was shared


async def test_the_next_due_time_is_planned_for_the_table_as_it_is_now(database_url):
    """A runner that first asked on an empty table must not go on using that plan once the table
    is large: the earliest due time is read from the index's first entry, not from all of them.
    (One connection, so the second question runs where the first was planned; the table is shaped
    like the scheduler's targets, whose plan on an empty table was a whole-index aggregate.)"""
    db = await Database.open(database_url, SCHEMA, min_size=1, max_size=1)
    next_due = ("SELECT extract(epoch FROM min(due_at) - clock_timestamp())::float8 FROM targets"
                " WHERE status = 'scheduled'")
    try:
        async with db.pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
            await conn.execute(f"""
                CREATE TABLE {SCHEMA}.targets (
                    target_id uuid PRIMARY KEY, post_id uuid NOT NULL, account_id text NOT NULL,
                    platform text NOT NULL, due_at timestamptz NOT NULL,
                    status text NOT NULL DEFAULT 'scheduled', dispatched_at timestamptz,
                    published_at timestamptz, platform_post_id text, url text, error_class text,
                    reason text, attempts integer NOT NULL DEFAULT 0,
                    updated_at timestamptz NOT NULL DEFAULT now(), UNIQUE (post_id, account_id))""")
            await conn.execute(f"CREATE INDEX targets_due ON {SCHEMA}.targets (due_at) WHERE status = 'scheduled'")
        r = DueRunner(db, name="planned", channel="due_test", seconds_until_next_sql=next_due,
                      claim=lambda conn, limit: asyncio.sleep(0, []))
        assert await r.seconds_until_next() is None  # the first question, on the empty table
        async with db.pool.acquire() as conn:
            await conn.execute(f"INSERT INTO {SCHEMA}.targets (target_id, post_id, account_id, platform, due_at)"
                               " SELECT gen_random_uuid(), gen_random_uuid(), 'a', 'mastodon',"
                               " now() + i * interval '1 second' FROM generate_series(1, 50000) i")

        async def index_tuples_read() -> int:
            async with db.pool.acquire() as conn:
                await conn.execute("SELECT pg_stat_force_next_flush()")
            async with db.pool.acquire() as conn:  # the flush happens as that transaction ends
                await conn.execute("SELECT pg_stat_clear_snapshot()")
                return await conn.fetchval("SELECT idx_tup_read FROM pg_stat_user_indexes"
                                           " WHERE schemaname = $1 AND indexrelname = 'targets_due'", SCHEMA)

        before = await index_tuples_read()
        assert 0 < await r.seconds_until_next() < 2
        read = await index_tuples_read() - before
        assert read < 100, f"the next due time read {read} index entries of 50,000"
    finally:
        async with db.pool.acquire() as conn:
            await conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
        await db.close()
