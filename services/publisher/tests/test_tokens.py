"""Token expiry on the real database and broker: an account whose token ended and cannot be
renewed is marked for reconnecting, its pending deliveries fail with that reason, and the
time to expiry is exported."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from siar_publisher.app import create_app
from siar_publisher.settings import PublisherSettings
from siar_runtime.db import connect

TOKEN = "publisher-test-token"


async def test_an_expired_token_that_cannot_be_renewed_needs_a_person(clean_db, amqp_url):
    settings = PublisherSettings(database_url=clean_db, amqp_url=amqp_url, api_tokens=f"{TOKEN}:admin",
                                 environment="test", token_refresh_ahead_seconds=600)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://publisher",
                                   headers={"Authorization": f"Bearer {TOKEN}"})
        soon = await client.post("/v1/accounts", json={
            "platform": "mastodon", "base_url": "https://social.example", "handle": "soon",
            "credentials": {"access_token": "a"}, "verify": False})
        gone = await client.post("/v1/accounts", json={
            "platform": "mastodon", "base_url": "https://social.example", "handle": "gone",
            "credentials": {"access_token": "b"}, "verify": False})
        soon_id, gone_id = soon.json()["account_id"], gone.json()["account_id"]
        conn = await connect(clean_db, "publisher")
        now = datetime.now(UTC)
        await conn.execute("UPDATE accounts SET token_expires_at = $2 WHERE account_id = $1", soon_id,
                           now + timedelta(hours=2))
        await conn.execute(
            "INSERT INTO deliveries (target_id, post_id, account_id, platform, correlation_id, due_at, text,"
            " next_attempt_at) VALUES ('t1', 'p1', $1, 'mastodon', 'c1', $2, 'x', $2)",
            gone_id, now + timedelta(hours=1),
        )
        await conn.execute("UPDATE accounts SET token_expires_at = $2 WHERE account_id = $1; ", gone_id,
                           now - timedelta(minutes=1))
        await conn.execute("NOTIFY publisher_tokens")
        for _ in range(100):
            status = (await client.get(f"/v1/accounts/{gone_id}")).json()["status"]
            if status == "needs_reconnect":
                break
            await asyncio.sleep(0.05)
        account = (await client.get(f"/v1/accounts/{gone_id}")).json()
        assert account["status"] == "needs_reconnect"
        assert "expired" in account["status_reason"]
        assert (await client.get(f"/v1/accounts/{soon_id}")).json()["status"] == "active"
        delivery = (await client.get("/v1/deliveries/t1")).json()
        assert delivery["state"] == "failed"
        assert delivery["error_class"] == "auth_revoked"
        await conn.close()
        # The scheduler and other systems hear of it: both events confirmed by the broker.
        wanted = ('siar_events_published_total{event="account.needs_reconnect"} 1.0',
                  'siar_events_published_total{event="post.failed"} 1.0')
        for _ in range(100):
            metrics = (await client.get("/metrics")).text
            if all(w in metrics for w in wanted):
                break
            await asyncio.sleep(0.05)
        await client.aclose()
    assert all(w in metrics for w in wanted), metrics
    assert 'siar_publisher_accounts{platform="mastodon",status="needs_reconnect"} 1.0' in metrics
    expiry = [line for line in metrics.splitlines() if line.startswith("siar_publisher_account_token_expiry_seconds{")]
    assert expiry and 7000 < float(expiry[0].split()[-1]) <= 7200
