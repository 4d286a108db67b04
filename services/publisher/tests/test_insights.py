"""Reading insights for the metrics service: the Mastodon and Telegram adapters against the real
sandbox (counts that grow with time, as the sandbox promises), the insights.requested handler
on the real database — paused and disconnected accounts, rate limits, one answer per request —
and the requests' own queue on the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aio_pika
import httpx
import pytest
from siar_contracts import (
    EVENTS_EXCHANGE,
    CloudEvent,
    ErrorClass,
    InsightsRequested,
    PostDue,
    queue_name,
    spec_for_model,
)
from siar_publisher import store
from siar_publisher.adapters import Account, Outgoing, PlatformError
from siar_publisher.adapters.mastodon import MastodonAdapter
from siar_publisher.adapters.telegram import TelegramAdapter
from siar_publisher.handlers import INSIGHTS_QUEUE, batch_handlers, handlers, insights_handlers
from siar_publisher.insights import InsightsReader, on_insights_requested
from siar_publisher.metrics import PublisherMetrics
from siar_publisher.settings import DEV_CREDENTIALS_KEY
from siar_publisher.vault import Vault
from siar_runtime.bus import Bus, declare_topology, outgoing
from siar_runtime.consumer import Consumer
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics
from siar_sandbox import engagement
from siar_sandbox.app import create_app
from siar_sandbox.settings import Settings

SANDBOX = "http://sandbox"
MASTODON_TOKEN = "perpuskota.secret"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
mastodon = MastodonAdapter()
telegram = TelegramAdapter()


class Sandbox:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.paths: list[str] = []

    async def control(self, method: str, path: str, body: dict | None = None) -> dict:
        r = await self.client.request(method, f"{SANDBOX}/_sandbox{path}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    async def advance(self, seconds: float) -> None:
        await self.control("PUT", "/clock", {"advance_seconds": seconds})


@pytest.fixture
async def sandbox():
    box = Sandbox(None)  # type: ignore[arg-type]

    async def record(response: httpx.Response) -> None:
        box.paths.append(response.request.url.path)

    transport = httpx.ASGITransport(app=create_app(Settings()))
    async with httpx.AsyncClient(transport=transport, event_hooks={"response": [record]}) as client:
        box.client = client
        yield box


def mastodon_account(token: str = MASTODON_TOKEN) -> Account:
    return Account(account_id="acc-m", platform="mastodon", handle="perpuskota", base_url=f"{SANDBOX}/mastodon",
                   credentials={"access_token": token})


def telegram_account(chat: str = "@perpuskota") -> Account:
    return Account(account_id="acc-t", platform="telegram", handle=chat, base_url=f"{SANDBOX}/telegram",
                   credentials={"bot_token": TELEGRAM_TOKEN}, settings={"chat_id": chat})


async def refused(call, error_class: ErrorClass) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        await call
    assert caught.value.error_class == error_class, caught.value.reason
    return caught.value


async def test_mastodon_counts_grow_with_time_as_the_sandbox_says(sandbox):
    before = time.time()
    status = await mastodon.publish(sandbox.client, mastodon_account(), Outgoing(target_id="t1", text="Halo #Baca"))
    after = time.time()
    first = await mastodon.insights(sandbox.client, mastodon_account(), status.platform_post_id)
    assert set(first) == {"favourites_count", "reblogs_count", "replies_count"}  # no quotes on this server
    await sandbox.advance(3600)
    later = await mastodon.insights(sandbox.client, mastodon_account(), status.platform_post_id)
    now = time.time() + 3600
    for raw, kind in (("favourites_count", "favourites"), ("reblogs_count", "reblogs"), ("replies_count", "replies")):
        low = engagement.grown(kind, status.platform_post_id, now - after - 5)
        high = engagement.grown(kind, status.platform_post_id, now - before + 5)
        assert low <= later[raw] <= high, raw
        assert later[raw] >= first[raw]
    assert later["favourites_count"] >= 60  # at least 1 × √3600


async def test_mastodon_audience_grows_and_counts_statuses(sandbox):
    first = await mastodon.audience(sandbox.client, mastodon_account())
    await mastodon.publish(sandbox.client, mastodon_account(), Outgoing(target_id="t2", text="Jam buka"))
    await sandbox.advance(86_400)
    later = await mastodon.audience(sandbox.client, mastodon_account())
    assert later["followers_count"] - first["followers_count"] >= int(0.5 * 86_400 ** 0.5) - 1
    assert (first["statuses_count"], later["statuses_count"]) == (0, 1)


async def test_telegram_has_no_post_counts_but_a_growing_channel(sandbox):
    assert await telegram.insights(sandbox.client, telegram_account(), "1") == {}
    first = await telegram.audience(sandbox.client, telegram_account())
    await sandbox.advance(86_400)
    later = await telegram.audience(sandbox.client, telegram_account())
    assert set(first) == {"member_count"} and later["member_count"] > first["member_count"] >= 50


async def test_a_deleted_post_and_read_faults_are_classified_for_the_metrics_service(sandbox):
    status = await mastodon.publish(sandbox.client, mastodon_account(), Outgoing(target_id="t3", text="Hapus saya"))
    response = await sandbox.client.delete(f"{SANDBOX}/mastodon/api/v1/statuses/{status.platform_post_id}",
                                           headers={"Authorization": f"Bearer {MASTODON_TOKEN}"})
    assert response.status_code == 200
    gone = await refused(mastodon.insights(sandbox.client, mastodon_account(), status.platform_post_id),
                         ErrorClass.TARGET_GONE)
    assert "no longer has this post" in gone.reason

    # A fault for writes leaves reads alone; one for reads faults only reads.
    await sandbox.control("PUT", "/faults", {"platform": "mastodon", "sequence": ["500"]})
    await mastodon.audience(sandbox.client, mastodon_account())
    await sandbox.control("PUT", "/faults", {"platform": "mastodon", "calls": "reads", "sequence": ["429", "503"],
                                             "retry_after_seconds": 30})
    await mastodon.publish(sandbox.client, mastodon_account(), Outgoing(target_id="t4", text="Tetap terbit"))
    limited = await refused(mastodon.audience(sandbox.client, mastodon_account()), ErrorClass.RATE_LIMITED)
    assert timedelta(seconds=20) < limited.retry_at - datetime.now(UTC) <= timedelta(seconds=31)
    assert "followers will be read" in limited.reason
    await refused(mastodon.audience(sandbox.client, mastodon_account()), ErrorClass.TRANSIENT)
    assert "followers_count" in await mastodon.audience(sandbox.client, mastodon_account())

    await sandbox.control("PUT", "/faults", {"platform": "telegram", "calls": "reads", "sequence": ["429"],
                                             "retry_after_seconds": 7})
    limited = await refused(telegram.audience(sandbox.client, telegram_account()), ErrorClass.RATE_LIMITED)
    assert timedelta(seconds=5) < limited.retry_at - datetime.now(UTC) <= timedelta(seconds=8)
    await refused(telegram.audience(sandbox.client, telegram_account("@notfound_cabang")), ErrorClass.TARGET_GONE)


# --------------------------------------------------------------------------- the handler


@pytest.fixture
async def db(clean_db):
    database = await Database.open(clean_db, "publisher")
    yield database
    await database.close()


@pytest.fixture
def reader(sandbox) -> InsightsReader:
    return InsightsReader(sandbox.client, Vault(DEV_CREDENTIALS_KEY), PublisherMetrics(ChassisMetrics("publisher")))


async def connect_account(db: Database, account: Account) -> str:
    async with db.pool.acquire() as conn:
        row, _ = await store.upsert_account(
            conn, account_id=str(uuid.uuid4()), platform=account.platform, handle=account.handle,
            display_name=None, base_url=account.base_url, credentials=Vault(DEV_CREDENTIALS_KEY).seal(account.credentials),
            settings=account.settings, limits={},
        )
    return row["account_id"]


def request(account_id: str, platform: str = "mastodon", kind: str = "account", **extra) -> CloudEvent:
    payload = InsightsRequested(request_id=str(uuid.uuid4()), kind=kind, account_id=account_id, platform=platform,
                                requested_at=datetime.now(UTC), **extra)
    return spec_for_model(InsightsRequested).envelope(payload, source="/siar/metrics", correlation_id="corr-1",
                                                      subject=f"account/{account_id}")


async def answers(db: Database) -> list[CloudEvent]:
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT body FROM outbox WHERE routing_key LIKE 'insights.%' ORDER BY id")
    return [CloudEvent.from_json(bytes(r["body"])) for r in rows]


async def handle(db, reader, event: CloudEvent) -> None:
    await on_insights_requested(event, spec_for_model(InsightsRequested).parse(event), db.pool, reader)


async def test_a_request_is_answered_once_with_the_platform_numbers(db, reader, sandbox):
    account_id = await connect_account(db, mastodon_account())
    status = await mastodon.publish(sandbox.client, mastodon_account(), Outgoing(target_id="t5", text="Baca"))
    post = request(account_id, kind="post", platform_post_id=status.platform_post_id, target_id="t5", post_id="p5")
    await handle(db, reader, post)
    await handle(db, reader, post)  # redelivered: read again, answered once
    audience = request(account_id)
    await handle(db, reader, audience)
    first, second = await answers(db)
    assert first.type == "org.siar.insights.collected.v1" and first.correlationid == "corr-1"
    assert first.data["request_id"] == post.data["request_id"] and first.data["target_id"] == "t5"
    assert set(first.data["metrics"]) == {"favourites_count", "reblogs_count", "replies_count"}
    assert second.data["kind"] == "account" and second.data["metrics"]["followers_count"] >= 100


async def test_accounts_that_cannot_be_called_are_answered_without_a_call(db, reader, sandbox):
    paused = await connect_account(db, mastodon_account())
    until = datetime.now(UTC) + timedelta(minutes=10)
    async with db.pool.acquire() as conn:
        await store.pause_account(conn, paused, until)
    lost = await connect_account(db, replace(mastodon_account("revoked.token"), handle="revoked"))
    async with db.pool.acquire() as conn:
        await store.account_needs_reconnect(conn, lost, "Mastodon no longer accepts this account's access token")
    for event in (request(paused), request(lost), request("nobody"),
                  request(paused, platform="whatsapp")):
        await handle(db, reader, event)
    assert sandbox.paths == []  # no platform was called
    limited, revoked, unknown, unsupported = (a.data for a in await answers(db))
    assert limited["error_class"] == "rate_limited" and datetime.fromisoformat(limited["retry_at"]) == until
    assert revoked["error_class"] == "auth_revoked" and "needs reconnecting" in revoked["reason"]
    assert unknown["error_class"] == "target_gone"
    assert unsupported["error_class"] == "rate_limited"  # paused first: the account is not called at all


async def test_a_rate_limit_met_while_reading_pauses_the_account(db, reader, sandbox):
    account_id = await connect_account(db, mastodon_account())
    await sandbox.control("PUT", "/faults", {"platform": "mastodon", "calls": "reads", "sequence": ["429"],
                                             "retry_after_seconds": 40})
    await handle(db, reader, request(account_id))
    [failed] = await answers(db)
    assert failed.type == "org.siar.insights.failed.v1" and failed.data["error_class"] == "rate_limited"
    async with db.pool.acquire() as conn:
        paused_until = (await store.get_account(conn, account_id))["paused_until"]
    assert paused_until == datetime.fromisoformat(failed.data["retry_at"])
    assert timedelta(seconds=30) < paused_until - datetime.now(UTC) <= timedelta(seconds=41)


async def test_a_platform_without_insights_says_so(db, reader):
    account_id = await connect_account(db, Account(account_id="x", platform="whatsapp", handle="+62",
                                                   base_url="https://graph.example", credentials={"token": "t"}))
    await handle(db, reader, request(account_id, platform="whatsapp"))
    [answer] = await answers(db)
    assert answer.data["error_class"] == "internal" and "cannot read account insights from whatsapp" in answer.data["reason"]


# --------------------------------------------------------------------------- the queue of their own


async def _depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return queue.declaration_result.message_count or 0


async def test_insights_requests_wait_in_a_queue_of_their_own_and_never_hold_a_post_due_back(
        db, reader, sandbox, amqp_url):
    """Every read takes 2 s; 24 requests wait, 4 read at a time, while a post.due published after
    them is recorded at once. The binding an earlier release made (insights requests into the
    publisher's own queue) is gone once the publisher has connected."""
    account_id = await connect_account(db, mastodon_account())
    await sandbox.control("PUT", "/faults", {"platform": "mastodon", "calls": "reads", "latency_ms": 2000})
    connection = await aio_pika.connect(amqp_url)
    bus = Bus(amqp_url, "publisher")
    consumers: list[Consumer] = []
    try:
        channel = await connection.channel()
        await declare_topology(channel)
        for name in (queue_name("publisher"), queue_name(INSIGHTS_QUEUE)):
            await (await channel.get_queue(name)).purge()
        events = await channel.get_exchange(EVENTS_EXCHANGE)
        await (await channel.get_queue(queue_name("publisher"))).bind(events, "insights.requested")  # the old one

        await bus.connect()
        await bus.publish_confirmed([outgoing(request(account_id))])
        assert await _depth(channel, queue_name("publisher")) == 0
        assert await _depth(channel, queue_name(INSIGHTS_QUEUE)) == 1

        consumers = [
            Consumer(bus, INSIGHTS_QUEUE, insights_handlers(db.pool, reader), ChassisMetrics("test"), prefetch=4),
            Consumer(bus, "publisher", handlers(db.pool, lambda: None, reader), ChassisMetrics("test"),
                     batch_handlers=batch_handlers(db.pool, lambda: None)),
        ]
        for consumer in consumers:
            await consumer.start()
        await bus.publish_confirmed([outgoing(request(account_id)) for _ in range(23)])
        payload = PostDue(post_id="p-due", target_id="t-due", account_id=account_id, platform="mastodon",
                          due_at=datetime.now(UTC), text="Jam buka baru", media=[])
        published = time.monotonic()
        await bus.publish_confirmed([outgoing(spec_for_model(PostDue).envelope(
            payload, source="/siar/scheduler", correlation_id="corr-due", subject="target/t-due"))])
        recorded = None
        while time.monotonic() - published < 10:
            async with db.pool.acquire() as conn:
                if await conn.fetchval("SELECT 1 FROM deliveries WHERE target_id = 't-due'"):
                    recorded = time.monotonic() - published
                    break
            await asyncio.sleep(0.02)
        answered = len(await answers(db))
        # Behind the reads in one queue it would wait for 24 / 4 x 2 s = 12 s; the bound leaves
        # a loaded machine room, and the reads were still going on when it was recorded.
        assert recorded is not None and recorded < 5, recorded
        assert answered < 24
    finally:
        for consumer in consumers:
            await consumer.stop()
        await bus.close()
        channel = await connection.channel()
        for name in (queue_name("publisher"), queue_name(INSIGHTS_QUEUE)):
            await (await channel.get_queue(name)).purge()
        await connection.close()


async def test_a_rate_limit_on_an_x_read_delays_the_reading_but_never_pauses_posting(db, reader, sandbox):
    """X limits each endpoint on its own: a 429 on GET /2/tweets/:id says nothing about
    POST /2/tweets. The reading waits for X's reset; the account keeps posting."""
    x_account = Account(account_id="acc-x", platform="x", handle="perpuskota", base_url=f"{SANDBOX}/x",
                        credentials={"access_token": "perpuskota.x-access"})
    account_id = await connect_account(db, x_account)
    await sandbox.control("PUT", "/faults", {"platform": "x", "calls": "reads", "sequence": ["429"],
                                             "retry_after_seconds": 40})
    await handle(db, reader, request(account_id, platform="x", kind="post", platform_post_id="1",
                                     target_id="t9", post_id="p9"))
    [failed] = await answers(db)
    assert failed.data["error_class"] == "rate_limited"
    retry_at = datetime.fromisoformat(failed.data["retry_at"])
    assert timedelta(seconds=30) < retry_at - datetime.now(UTC) <= timedelta(seconds=41)
    async with db.pool.acquire() as conn:
        assert (await store.get_account(conn, account_id))["paused_until"] is None
