"""The metrics service in-process with the real broker: it hears post.published and account.*,
asks for readings with insights.requested, and stores the answers that come back — the test plays
the publisher."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import aio_pika
import httpx
from siar_contracts import (
    EVENTS_EXCHANGE,
    AccountRegistered,
    CloudEvent,
    InsightsCollected,
    InsightsFailed,
    queue_name,
    spec_for_model,
)
from siar_metrics.app import create_app
from siar_runtime.bus import Bus, Outgoing

from .conftest import TOKEN, published, scheduled, settings_for


class Publisher:
    """Plays the publisher: hears insights.requested and answers on the exchange."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.requests: list[CloudEvent] = []
        self.sampled: list[CloudEvent] = []

    async def __aenter__(self) -> Publisher:
        self.bus = Bus(self.amqp_url, "test-publisher")
        await self.bus.connect()
        self.connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self.connection.channel()
        await (await channel.get_queue(queue_name("metrics"))).purge()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in ("insights.requested", "engagement.sampled", "audience.sampled"):
            await queue.bind(exchange, routing_key=key)

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                event = CloudEvent.from_json(message.body)
                (self.requests if message.routing_key == "insights.requested" else self.sampled).append(event)

        await queue.consume(collect)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()
        await self.bus.close()

    async def send(self, payload, correlation_id: str | None = None) -> CloudEvent:
        event = spec_for_model(type(payload)).envelope(payload, source="/test/publisher",
                                                       correlation_id=correlation_id or str(uuid.uuid4()))
        await self.bus.publish_confirmed([Outgoing(routing_key=event.short_name, body=event.to_json(),
                                                   event_id=event.id, event_type=event.type,
                                                   correlation_id=event.correlationid)])
        return event

    async def answer(self, request: CloudEvent, metrics: dict) -> CloudEvent:
        d = request.data
        return await self.send(InsightsCollected(
            request_id=d["request_id"], kind=d["kind"], account_id=d["account_id"], platform=d["platform"],
            platform_post_id=d["platform_post_id"], post_id=d["post_id"], target_id=d["target_id"],
            metrics=metrics, collected_at=datetime.now(UTC)), request.correlationid)

    async def fail(self, request: CloudEvent) -> CloudEvent:
        d = request.data
        return await self.send(InsightsFailed(
            request_id=d["request_id"], kind=d["kind"], account_id=d["account_id"], platform=d["platform"],
            error_class="rate_limited", reason="Mastodon asked Siar to slow down", retry_at=datetime.now(UTC),
            failed_at=datetime.now(UTC)), request.correlationid)


async def wait_for(predicate, timeout: float = 15):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not met")


async def test_readings_are_requested_answered_stored_and_announced(clean_db, amqp_url):
    settings = settings_for(clean_db, amqp_url, collection_schedule="1s,2s", collection_backoff_seconds=0.2)
    app = create_app(settings)
    async with Publisher(amqp_url) as publisher, app.router.lifespan_context(app):
        account = await publisher.send(AccountRegistered(account_id="acc-m", platform="mastodon",
                                                         handle="perpus", status="active"))
        post_id = str(uuid.uuid4())
        await publisher.send(scheduled(post_id, "Dongeng Sabtu pagi #DongengAnak"))
        post = published(post_id)
        sent = await publisher.send(post, correlation_id="corr-flow")

        def requests(kind: str, **match):
            return [r for r in publisher.requests if r.data["kind"] == kind
                    and all(r.data[k] == v for k, v in match.items())]

        [audience] = await wait_for(lambda: requests("account", account_id="acc-m"))
        assert audience.correlationid == audience.data["request_id"] and account.data["account_id"] == "acc-m"
        await publisher.answer(audience, {"followers_count": 1500, "statuses_count": 3})

        # The 1 s reading: answered twice (a duplicate must not count); the 2 s reading: a rate
        # limit first, then an answer to the request asked again with the same id.
        first = (await wait_for(lambda: requests("post", target_id=post.target_id)))[0]
        assert first.correlationid == "corr-flow" and first.data["platform_post_id"] == post.platform_post_id
        await publisher.answer(first, {"favourites_count": 12, "reblogs_count": 3, "replies_count": 1})
        await publisher.answer(first, {"favourites_count": 12, "reblogs_count": 3, "replies_count": 1})
        second = await wait_for(lambda: [r for r in requests("post", target_id=post.target_id)
                                         if r.data["request_id"] != first.data["request_id"]])
        await publisher.fail(second[0])
        again = await wait_for(lambda: [r for r in requests("post", target_id=post.target_id)
                                        if r.data["request_id"] == second[0].data["request_id"]
                                        and r.data["attempt"] == 2])
        await publisher.answer(again[0], {"favourites_count": 20, "reblogs_count": 4, "replies_count": 2})

        engagement = await wait_for(lambda: len([e for e in publisher.sampled
                                                 if e.type == "org.siar.engagement.sampled.v1"]) >= 2 and
                                    [e for e in publisher.sampled if e.type == "org.siar.engagement.sampled.v1"])
        assert sorted(e.data["metrics"]["likes"] for e in engagement) == [12, 20]
        assert {e.correlationid for e in engagement} == {"corr-flow"}
        assert engagement[-1].data["engagement_basis"] == "followers"
        assert engagement[-1].data["engagement_rate"] * 1500 == sum(engagement[-1].data["metrics"].values())

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metrics",
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            body = (await client.get(f"/v1/posts/{post_id}/engagement")).json()
            top = (await client.get("/v1/reports/top-posts")).json()["posts"]
            metrics_text = (await client.get("/metrics")).text
        [target] = body["targets"]
        assert body["hashtags"] == ["DongengAnak"] and target["target_id"] == post.target_id
        assert [(r["stage"], r["state"], r["likes"]) for r in target["readings"]] == [
            ("1s", "collected", 12), ("2s", "collected", 20)]
        assert [(p["target_id"], p["likes"]) for p in top] == [(post.target_id, 20)]
        assert sent.data["target_id"] == post.target_id
        assert 'siar_metrics_collections_total{kind="post",outcome="collected",platform="mastodon"} 2.0' in metrics_text
        assert 'siar_metrics_collections_total{kind="post",outcome="retrying",platform="mastodon"} 1.0' in metrics_text
        assert 'siar_metrics_samples_stored_total{platform="mastodon"} 8.0' in metrics_text  # 3 + 3 + 2
        assert 'siar_metrics_answers_ignored_total 1.0' in metrics_text


async def test_a_batch_with_an_answer_that_cannot_be_stored_still_stores_the_others(clean_db, amqp_url, db):
    """One answer the database refuses (a metric name with a NUL character) is retried and
    dead-lettered alone; the answer that arrived in the same batch is stored."""
    from siar_contracts import dead_queue_name
    from siar_metrics import collections

    settings = settings_for(clean_db, amqp_url, ingest_linger_ms=300)
    async with db.pool.acquire() as conn:
        for account in ("acc-1", "acc-2"):
            await collections.plan_audience(conn, account, "mastodon")
    app = create_app(settings)
    async with Publisher(amqp_url) as publisher, app.router.lifespan_context(app):
        channel = await publisher.connection.channel()
        dead = await channel.get_queue(dead_queue_name("metrics"))
        await dead.purge()
        requests = await wait_for(lambda: len(publisher.requests) >= 2 and publisher.requests)
        good, bad = sorted(requests, key=lambda r: r.data["account_id"])
        poison = await publisher.answer(bad, {"followers_count": 5, "bad\x00name": 1})
        await publisher.answer(good, {"followers_count": 321})

        async def followers():
            async with db.pool.acquire() as conn:
                return dict(await conn.fetch("SELECT account_id, followers FROM accounts"))

        await wait_for_async(lambda: followers(), lambda v: v.get("acc-1") == 321)
        message = None
        for _ in range(200):  # five deliveries, a second apart, then the dead letters
            message = await dead.get(no_ack=True, fail=False)
            if message is not None:
                break
            await asyncio.sleep(0.1)
        assert message is not None and message.message_id == poison.id
        assert (await followers()).get("acc-2") is None


async def wait_for_async(fetch, check, timeout: float = 15):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if check(await fetch()):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("condition not met")
