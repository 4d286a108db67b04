"""Connecting accounts through ``POST /v1/accounts`` on the real database and broker, against the
sandbox on a real socket: what a person connecting an account is told when the platform refuses.

Adapters word their errors for deliveries ("Siar will try again", "refused the post"); a
connection attempt is never retried and has no post, so the problem's ``detail`` says what to fix,
while ``error_class`` and ``platform_detail`` keep the machine-readable class and the platform's
own words."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from siar_publisher.app import create_app
from siar_publisher.settings import PublisherSettings
from siar_runtime.auth import actor_id
from siar_sandbox import instagram as ig_sandbox

from services.publisher.tests import sandbox_kit

live_server = sandbox_kit.live_server

TOKEN = "publisher-test-token"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
# Delivery wording that must never reach a person connecting an account.
DELIVERY_WORDS = ("Siar will", "tries again", "renews it", "renew it", "the post")


@pytest.fixture
async def client(clean_db, amqp_url, live_server):
    settings = PublisherSettings(database_url=clean_db, amqp_url=amqp_url, api_tokens=f"{TOKEN}:admin",
                                 environment="test")  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://publisher",
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as client:  # fmt: skip
            async with httpx.AsyncClient() as control:
                assert (await control.post(f"{live_server}/_sandbox/reset")).status_code == 200
            yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def refused(client: httpx.AsyncClient, body: dict, error_class: str) -> dict:
    response = await client.post("/v1/accounts", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("account-verification") and problem["title"] == "Could not connect the account"
    assert problem["error_class"] == error_class, problem
    assert not any(word in problem["detail"] for word in DELIVERY_WORDS), problem["detail"]
    return problem


async def test_an_unreachable_address_says_to_check_it(client):
    base = f"http://127.0.0.1:{free_port()}/mastodon"  # nothing listens there
    problem = await refused(client, {"platform": "mastodon", "base_url": base,
                                     "credentials": {"access_token": "library.secret"}}, "transient")  # fmt: skip
    assert problem["detail"] == f"Siar could not reach Mastodon at {base}: check the address and try again"
    assert problem["platform_detail"].startswith("ConnectError")


async def test_an_address_that_never_answers_says_to_check_it(clean_db, amqp_url):
    settings = PublisherSettings(database_url=clean_db, amqp_url=amqp_url, api_tokens=f"{TOKEN}:admin",
                                 environment="test", http_timeout_seconds=0.5)  # fmt: skip
    app = create_app(settings)
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}/mastodon"
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://publisher",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client:  # fmt: skip
            problem = await refused(client, {"platform": "mastodon", "base_url": base,
                                             "credentials": {"access_token": "library.secret"}}, "outcome_unknown")  # fmt: skip
    assert problem["detail"] == f"Mastodon at {base} did not answer in time: check the address and try again"
    assert problem["platform_detail"].startswith("ReadTimeout")


async def test_a_refused_token_says_to_paste_a_new_one(client, live_server):
    problem = await refused(client, {"platform": "mastodon", "base_url": f"{live_server}/mastodon",
                                     "credentials": {"access_token": "revoked.secret"}}, "auth_revoked")  # fmt: skip
    assert problem["detail"] == "Mastodon did not accept the access token: it has expired or was revoked; paste a new one"
    # X calls a refused token "expired" (it could be renewed during a delivery): the class stays,
    # but connecting renews nothing, with or without a refresh token.
    problem = await refused(client, {"platform": "x", "base_url": f"{live_server}/x",
                                     "credentials": {"access_token": "revoked.x-token"}}, "auth_expired")  # fmt: skip
    assert problem["detail"] == "X did not accept the access token: it has expired or was revoked; paste a new one"
    assert problem["platform_detail"] == "HTTP 401: Unauthorized"
    problem = await refused(client, {"platform": "facebook", "base_url": f"{live_server}/facebook/v21.0",
                                     "credentials": {"access_token": "expired.page-token"},
                                     "settings": {"page_id": "1000000000001"}}, "auth_expired")  # fmt: skip
    assert problem["detail"] == "Facebook did not accept the access token: it has expired or was revoked; paste a new one"
    assert "code 190/463" in problem["platform_detail"]
    problem = await refused(client, {"platform": "telegram", "base_url": f"{live_server}/telegram",
                                     "credentials": {"bot_token": "123456789:revokedAAHdqTcvCH1vGWJxfSeofSAs0K5"},
                                     "settings": {"chat_id": "@perpuskota"}}, "auth_revoked")  # fmt: skip
    assert problem["detail"].startswith("Telegram did not accept the bot token: ")


async def test_refused_settings_are_named_as_settings(client, live_server):
    instagram = {"platform": "instagram", "base_url": f"{live_server}/instagram/v21.0",
                 "credentials": {"access_token": "perpuskota.secret"}}  # fmt: skip
    problem = await refused(client, {**instagram, "settings": {"ig_user_id": "perpuskota"}}, "invalid_content")
    assert problem["detail"].startswith("Instagram refused the account settings: ")
    assert "Unknown path components" in problem["detail"] and "Unknown path components" in problem["platform_detail"]
    problem = await refused(client, {**instagram, "settings": {"ig_user_id": "0178"}}, "target_gone")
    assert problem["detail"] == ("Instagram cannot find the account Siar was asked to connect: check "
                                 f"settings.ig_user_id and the address {live_server}/instagram/v21.0")  # fmt: skip
    # The right id connects.
    right = await client.post("/v1/accounts", json={**instagram, "settings": {"ig_user_id": ig_sandbox.user_id("perpuskota")}})
    assert right.status_code == 201 and right.json()["status"] == "active"


async def test_a_bot_that_may_not_post_is_refused_at_connect_time(client, live_server):
    telegram = {"platform": "telegram", "base_url": f"{live_server}/telegram", "credentials": {"bot_token": BOT_TOKEN}}
    problem = await refused(client, {**telegram, "settings": {"chat_id": "@notmember_kanal"}}, "permission_denied")
    assert problem["detail"] == ("@siar_sandbox_123456789_bot is not a member of @notmember_kanal: add it as an "
                                 "administrator allowed to post messages, then connect again")  # fmt: skip
    assert problem["platform_detail"] == "getChatMember: status left"
    problem = await refused(client, {**telegram, "settings": {"chat_id": "@nopost_kanal"}}, "permission_denied")
    assert "may not post messages" in problem["detail"]
    assert (await client.get("/v1/accounts")).json() == {"accounts": []}
    # The demo channel of `make run`, where the bot is an administrator, connects.
    demo = await client.post("/v1/accounts", json={**telegram, "settings": {"chat_id": "@perpustakaan_demo"}})
    assert demo.status_code == 201 and demo.json()["handle"] == "@perpustakaan_demo"
    # Who connected it is in the publisher's audit log (a refused attempt is not), and so is who
    # gave it new credentials; never the credentials themselves.
    again = await client.post("/v1/accounts", json={**telegram, "settings": {"chat_id": "@perpustakaan_demo"}})
    assert again.status_code == 200
    log = (await client.get("/v1/audit")).json()
    assert [(e["action"], e["entity"], e["entity_id"], e["role"]) for e in log["entries"]] == [
        ("account.connected", "account", demo.json()["account_id"], "admin"),
        ("account.reconnected", "account", demo.json()["account_id"], "admin")]
    first = log["entries"][0]
    assert first["actor"] == actor_id(TOKEN) and first["details"]["handle"] == "@perpustakaan_demo"
    assert first["details"]["platform"] == "telegram" and BOT_TOKEN not in json.dumps(log)
    only = (await client.get("/v1/audit", params={"limit": 1})).json()
    rest = (await client.get("/v1/audit", params={"limit": 1, "cursor": only["next_cursor"]})).json()
    assert [e["action"] for e in only["entries"] + rest["entries"]] == ["account.connected", "account.reconnected"]
    assert (await client.get("/v1/audit", params={"from": "2026-01-01T00:00:00"})).status_code == 422
    assert (await client.get("/v1/audit", params={"cursor": "x"})).status_code == 400


async def test_a_wrong_oauth_client_secret_is_refused_at_connect_time(client, live_server):
    youtube = {"platform": "youtube", "base_url": f"{live_server}/youtube",
               "credentials": {"access_token": "perpuskota.ya29", "refresh_token": "perpuskota.1//rt",
                               "client_id": "1234.apps", "client_secret": "wrong-secret"}}  # fmt: skip
    problem = await refused(client, youtube, "auth_revoked")
    assert problem["detail"].startswith("Google did not accept the OAuth client: check client_id and client_secret")
    assert problem["platform_detail"] == "HTTP 401: invalid_client: Unauthorized"
    right = {**youtube, "credentials": {**youtube["credentials"], "client_secret": "gsecret"}}
    connected = await client.post("/v1/accounts", json=right)
    assert connected.status_code == 201 and connected.json()["handle"] == "@perpuskota"



async def test_an_account_says_whether_its_platform_gives_insights(client, amqp_url):
    # LinkedIn gives statistics only for an organization page: account.registered says so, and
    # the metrics service asks nothing of a member's profile.
    import asyncio
    import json

    import aio_pika
    from siar_contracts import EVENTS_EXCHANGE

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="account.registered")
        for author in ("urn:li:person:abc123", "urn:li:organization:42"):
            response = await client.post("/v1/accounts", json={
                "platform": "linkedin", "base_url": "https://api.linkedin.com", "verify": False, "handle": author,
                "credentials": {"access_token": "li-token"}, "settings": {"author": author}})
            assert response.status_code == 201, response.text
        seen: dict[str, bool] = {}
        async with asyncio.timeout(10):
            while len(seen) < 2:
                message = await queue.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                await message.ack()
                data = json.loads(message.body)["data"]
                seen[data["handle"]] = data["insights"]
    finally:
        await connection.close()
    assert seen == {"urn:li:person:abc123": False, "urn:li:organization:42": True}
