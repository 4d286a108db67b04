"""The announcer on the real database and broker: every stored reading's event published once,
in the log's order, none stepped over when transactions commit out of order, none lost when a
publish fails, and one replica announcing at a time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
import structlog.testing
from siar_contracts import EVENTS_EXCHANGE, CloudEvent, InsightsCollected, spec_for_type
from siar_metrics import store
from siar_metrics.announce import Announcer
from siar_metrics.ids import uuid7
from siar_metrics.ingest import Answer, Policy, store_answers
from siar_runtime.bus import Bus
from siar_runtime.metrics import ChassisMetrics

from .conftest import answer, collected, envelope, pending_events, publish_target, readings, settled

MASTODON = {"favourites_count": 40, "reblogs_count": 6, "replies_count": 4}


class Subscriber:
    """Another system: hears engagement.sampled and audience.sampled on the real exchange."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.events: list[CloudEvent] = []
        self.arrived = asyncio.Event()

    async def __aenter__(self) -> Subscriber:
        self.connection = await aio_pika.connect(self.amqp_url)
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True,
                                                  passive=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in ("engagement.sampled", "audience.sampled"):
            await queue.bind(exchange, routing_key=key)

        async def hear(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append(CloudEvent.from_json(message.body))
                self.arrived.set()

        await queue.consume(hear)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def wait_for(self, count: int, timeout: float = 10) -> list[CloudEvent]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        await asyncio.sleep(0.2)  # and nothing more comes
        return self.events


@pytest.fixture
async def bus(amqp_url):
    bus = Bus(amqp_url, "metrics")
    await bus.connect()  # declares the exchanges
    yield bus
    await bus.close()


def announcer(db, bus, batch: int = 500) -> Announcer:
    return Announcer(db, bus, ChassisMetrics("metrics-test"), batch=batch)


async def cursor(db) -> tuple[int, uuid.UUID]:
    async with db.pool.acquire() as conn, conn.transaction():
        row = await store.announce_cursor(conn)
    return row["txid"], row["request_id"]


async def targets_answered(db, count: int, batches: int = 1) -> list[str]:
    """``count`` targets published, each reading of each answered, in ``batches`` transactions;
    returns the request ids in the order they were stored."""
    rows = []
    for _ in range(count):
        target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
        rows += await readings(db, target["target_id"])
    size = -(-len(rows) // batches)
    for i in range(0, len(rows), size):
        await answer(db, *(collected(r, MASTODON) for r in rows[i:i + size]))
    return [str(r["request_id"]) for r in rows]


async def test_each_reading_is_announced_once_in_the_logs_order(db, bus, amqp_url):
    stored = await targets_answered(db, 2, batches=3)
    rendered = [e.id for e in await pending_events(db)]
    assert sorted(rendered) == sorted(stored)
    async with Subscriber(amqp_url) as subscriber:
        await settled(db)
        assert await announcer(db, bus, batch=5).drain_once() == 12  # windows of 5, 5 and 2
        heard = await subscriber.wait_for(12)
        assert [e.id for e in heard] == rendered  # once each, in (transaction, request id) order
        for event in heard:
            payload = spec_for_type(event.type).parse(event)
            assert payload.request_id == event.id and payload.metrics == {"likes": 40, "shares": 6, "comments": 4}
        assert await announcer(db, bus).drain_once() == 0 and len(subscriber.events) == 12
    assert str((await cursor(db))[1]) == rendered[-1] and await pending_events(db) == []


async def test_a_reading_behind_a_transaction_still_open_waits_for_it_and_none_is_stepped_over(db, bus, amqp_url):
    """The earlier transaction stores its readings with the smaller txid but commits last: the
    later one's readings wait for it, and then both go out, in txid order (not the request ids':
    the later one's were planned first)."""
    # Another platform: the two batches share no row (each locks its platform's until it commits).
    second = await publish_target(db, platform="bluesky", account_id="acc-b",
                                  published_at=datetime.now(UTC) - timedelta(hours=2))
    first = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    early = [collected(r, MASTODON) for r in await readings(db, first["target_id"])]
    late = [collected(r, MASTODON) for r in await readings(db, second["target_id"])]
    async with Subscriber(amqp_url) as subscriber, db.pool.acquire() as conn:
        open_ = conn.transaction()
        await open_.start()
        try:
            await store_answers(conn, [Answer(envelope(p), p) for p in early], Policy())
            await answer(db, *late)  # committed, behind the open one
            assert len(await pending_events(db, settle=False)) == 0
            assert await announcer(db, bus).drain_once() == 0
        finally:
            await open_.commit()
        await settled(db)
        assert await announcer(db, bus).drain_once() == 12
        heard = await subscriber.wait_for(12)
    assert max(p.request_id for p in late) < min(p.request_id for p in early)
    assert [e.id for e in heard] == [p.request_id for p in sorted(early, key=lambda p: p.request_id)] + [
        p.request_id for p in sorted(late, key=lambda p: p.request_id)]


async def test_a_failed_publish_moves_nothing_and_the_window_goes_out_again(db, bus, amqp_url):
    stored = await targets_answered(db, 1)
    await settled(db)
    before = await cursor(db)
    broken = Bus(amqp_url, "metrics")  # never connected: every publish fails
    with pytest.raises(ConnectionError):
        await announcer(db, broken).window()
    assert await cursor(db) == before and len(await pending_events(db)) == len(stored)
    async with Subscriber(amqp_url) as subscriber:
        await settled(db)
        assert await announcer(db, bus).drain_once() == len(stored)
        assert sorted(e.id for e in await subscriber.wait_for(len(stored))) == sorted(stored)


async def test_one_replica_announces_at_a_time(db, bus, amqp_url):
    stored = await targets_answered(db, 1)
    await cursor(db)  # there (a test starts with empty tables)
    await settled(db)
    async with db.pool.acquire() as conn, conn.transaction():
        assert await store.announce_cursor(conn) is not None  # this replica holds the cursor
        async with db.pool.acquire() as other, other.transaction():
            assert await store.announce_cursor(other) is None  # taken: not waited for
        assert await announcer(db, bus).window() == 0  # so the other replica's window sends nothing
    assert await announcer(db, bus).window() == len(stored)


async def test_readings_stored_by_the_version_before_are_not_announced_again(db, bus):
    """Their events went through the outbox: stored before the migration (no txid), or by a
    replica still running the old version during a rolling upgrade (a txid, but no raw answer,
    which this version always stores). A reading of this version beside them is announced."""
    before, during, now = uuid7(), uuid7(), uuid7()
    async with db.pool.acquire() as conn:
        insert = ("INSERT INTO readings (request_id, kind, stage, account_id, platform, planned_at, collected_at,"
                  " attempts, followers, txid, raw) VALUES ($1, 'account', 'audience', 'acc-m', 'mastodon', now(),"
                  " now(), 1, 10, {txid}, $2::json)")
        await conn.execute(insert.format(txid="NULL"), before, {"followers_count": 10})
        await conn.execute(insert.format(txid="DEFAULT"), during, None)
        await conn.execute(insert.format(txid="DEFAULT"), now, {"followers_count": 10})
    [event] = await pending_events(db)
    assert event.id == str(now) and event.correlationid == str(now)  # an account's: its own request id
    assert event.data["raw"] == {"followers_count": 10} and event.data["followers"] == 10
    assert await announcer(db, bus).drain_once() == 1


async def test_a_missing_cursor_starts_again_from_the_beginning(db, bus):
    stored = await targets_answered(db, 1)
    await settled(db)
    assert await announcer(db, bus).drain_once() == len(stored)
    async with db.pool.acquire() as conn:
        await conn.execute("DELETE FROM announced")
    assert await announcer(db, bus).drain_once() == len(stored)  # repeated (the inbox absorbs it), not lost


async def test_the_service_announces_what_it_stores(db, bus, amqp_url):
    """The wiring: the service's own announcer publishes what its consumer stored (woken by the
    storing, or at its next look should a transaction elsewhere hold the horizon back)."""
    from siar_metrics.app import create_app

    from .conftest import settings_for

    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    rows = await readings(db, target["target_id"])
    app = create_app(settings_for(db.dsn, amqp_url, outbox_poll_seconds=2))
    async with Subscriber(amqp_url) as subscriber, app.router.lifespan_context(app):
        payloads = [InsightsCollected.model_validate(collected(r, MASTODON).model_dump()) for r in rows]
        sender = Bus(amqp_url, "test-publisher")
        await sender.connect()
        try:
            from siar_runtime.bus import outgoing

            await sender.publish_confirmed([outgoing(envelope(p)) for p in payloads])
        finally:
            await sender.close()
        heard = await subscriber.wait_for(len(rows), timeout=20)
    assert sorted(e.id for e in heard) == sorted(str(r["request_id"]) for r in rows)


async def test_retention_keeps_a_reading_until_its_event_is_out(db, bus):
    """A late answer (collected long ago) is older than the retention the moment it is stored:
    it stays until announced, then goes."""
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(days=60))
    [row, *_] = await readings(db, target["target_id"])
    await answer(db, collected(row, MASTODON, at=datetime.now(UTC) - timedelta(days=40)))
    await cursor(db)  # the cursor's row, before it (a test starts with empty tables)
    async with db.pool.acquire() as conn:
        assert (await store.prune(conn, 30))[1] == 0
    await settled(db)
    assert await announcer(db, bus).drain_once() == 1
    async with db.pool.acquire() as conn:
        assert (await store.prune(conn, 30))[1] == 1


async def test_a_database_restored_into_another_server_is_rebased_and_loses_nothing(db, bus, amqp_url):
    """pg_dump / pg_restore into a new server: the cursor and the readings keep the old server's
    transaction ids, far ahead of the new server's. Before storing anything the service counts its
    ids from above the old ones: what the old server had not announced goes out, then every new
    reading, none stepped over."""
    stored = await targets_answered(db, 2)
    await settled(db)
    async with db.pool.acquire() as conn, conn.transaction():  # the first target's six were announced
        first = await store.unannounced(conn, await store.announce_cursor(conn), 6, ("t.engagement", "t.audience"))
        await store.advance_cursor(conn, first[-1]["txid"], first[-1]["request_id"])
    try:
        async with db.pool.acquire() as conn:  # as the old server's ids, restored
            await conn.execute("UPDATE readings SET txid = txid + 1000000000000 WHERE txid IS NOT NULL")
            await conn.execute("UPDATE announced SET txid = txid + 1000000000000")
            before = await conn.fetchval("SELECT max(txid) FROM readings")
        await announcer(db, bus).prepare()
        later = await targets_answered(db, 1)  # stored on the new server
        async with db.pool.acquire() as conn:
            offset = await conn.fetchval("SELECT txid_offset FROM announced")
            assert offset == before + 1
            assert await conn.fetchval("SELECT min(txid) FROM readings WHERE request_id = ANY($1::uuid[])",
                                       later) > before
            cursor = await conn.fetchrow("SELECT txid, request_id FROM announced")
            assert await store.rebase_if_restored(conn) is None  # on the same server: nothing to do
            assert await conn.fetchrow("SELECT txid, request_id FROM announced") == cursor
        async with Subscriber(amqp_url) as subscriber:
            await settled(db)
            assert await announcer(db, bus).drain_once() == 12
            heard = await subscriber.wait_for(12)
        left = sorted(set(stored) - {str(r["request_id"]) for r in first})
        assert sorted(e.id for e in heard[:6]) == left and sorted(e.id for e in heard[6:]) == sorted(later)
        assert await pending_events(db) == []
        async with db.pool.acquire() as conn:  # the cursor's row deleted by hand: the offset is kept
            await conn.execute("DELETE FROM announced")
            async with conn.transaction():
                await store.announce_cursor(conn)
            assert await conn.fetchval("SELECT txid_offset FROM announced") == offset
    finally:
        await as_migrated(db)


async def as_migrated(db) -> None:
    """The next tests' database as the migrations leave it (TRUNCATE keeps a column's default)."""
    async with db.pool.acquire() as conn:
        await conn.execute(f"ALTER TABLE readings ALTER COLUMN txid SET DEFAULT {store.TXID_DEFAULT}")
        await conn.execute("DELETE FROM announced")


async def test_a_restore_found_while_running_or_without_a_cursor_or_a_default_out_of_step_is_mended(db, bus):
    """A database moved under a running service is rebased by the announcer's next look (the
    log says readings stored since the move may lack their event); a restore without the
    cursor's row is still seen; a data-only restore into a freshly migrated schema (the cursor's
    offset and the column default's differ) is set straight at start."""
    try:
        stored = await targets_answered(db, 1)
        await cursor(db)  # a running service's
        await settled(db)
        async with db.pool.acquire() as conn:
            await conn.execute("UPDATE readings SET txid = txid + 1000000000000 WHERE txid IS NOT NULL")
        with structlog.testing.capture_logs() as logged:
            assert await announcer(db, bus).window() == 0  # the look that finds it
        assert [e["event"] for e in logged if e["log_level"] == "error"][0].startswith("the database's transaction")
        await settled(db)
        assert await announcer(db, bus).drain_once() == len(stored)

        await as_migrated(db)  # no cursor row, and txids far ahead of this server's
        later = await targets_answered(db, 1)
        async with db.pool.acquire() as conn:
            await conn.execute("UPDATE readings SET txid = txid + 2000000000000 WHERE request_id = ANY($1::uuid[])",
                               later)
            await conn.execute("DELETE FROM announced")
        assert await announcer(db, bus).prepare() is None  # logged, not returned
        async with db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT txid_offset FROM announced") > 2000000000000
            assert await store.default_offset(conn) == await conn.fetchval("SELECT txid_offset FROM announced")

        async with db.pool.acquire() as conn:  # the default put back by hand, the cursor's offset kept
            await conn.execute(f"ALTER TABLE readings ALTER COLUMN txid SET DEFAULT {store.TXID_DEFAULT}")
        await announcer(db, bus).prepare()
        async with db.pool.acquire() as conn:
            assert await store.default_offset(conn) == await conn.fetchval("SELECT txid_offset FROM announced")
        # The cursor started again (its row was gone): every reading is announced, the repeats
        # absorbed by the subscribers' inbox, and none is held back by the old server's txids.
        assert sorted(e.id for e in await pending_events(db)) == sorted(stored + later)
    finally:
        await as_migrated(db)


async def test_the_gauges_say_how_many_events_wait_and_for_how_long(db, bus):
    assert await _waiting(db) == (0, 0.0)
    stored = await targets_answered(db, 1)
    count, seconds = await _waiting(db)
    assert count == len(stored) and 0 <= seconds < 60
    await settled(db)
    await announcer(db, bus).drain_once()
    assert await _waiting(db) == (0, 0.0)


async def _waiting(db) -> tuple[int, float]:
    async with db.pool.acquire() as conn:
        await store.announce_cursor(conn)  # the cursor's row (a test starts with empty tables)
        return await store.events_waiting(conn)
