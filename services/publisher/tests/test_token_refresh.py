"""The token refresher on the real database against a Threads-like Graph host on a real socket:
how early each token is renewed (by its lifetime), a token whose expiry the platform never said,
one account's refresh going wrong without undoing the others', and a refresh asked to slow down."""

# ruff: noqa: F811 - the server fixture imported from socket_kit is redefined as a parameter

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from siar_publisher.app import create_app
from siar_publisher.metrics import PublisherMetrics
from siar_publisher.settings import DEV_CREDENTIALS_KEY, PublisherSettings
from siar_publisher.tokens import TokenRefresher, seconds_until_next_sql
from siar_publisher.transport import http_client
from siar_publisher.vault import Vault
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics
from structlog.testing import capture_logs

from services.publisher.tests.socket_kit import server  # noqa: F401 - a fixture

TOKEN = "publisher-test-token"
USER = "17841400000000001"
AHEAD = timedelta(minutes=10)  # SIAR_TOKEN_REFRESH_AHEAD_SECONDS' default
DAY = timedelta(days=1)

Answer = tuple[int, str]


class Graph:
    """A Graph host (``/v1.0/…`` and the unversioned ``/refresh_access_token``) whose answers
    each test decides: ``answer(path, query) -> (status, body)``."""

    def __init__(self, answer: Callable[[str, dict[str, str]], Answer]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        target = head.split(" ", 2)[1]
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.calls.append((parts.path, query))
        status, body = self.answer(parts.path, query)
        data = body.encode()
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (status, len(data), data))  # fmt: skip
        await writer.drain()
        writer.close()

    def refreshed(self) -> list[str]:
        return [q["access_token"] for path, q in self.calls if path == "/refresh_access_token"]


@pytest.fixture
async def graph(server) -> AsyncIterator[Callable[[Callable[[str, dict[str, str]], Answer]], Awaitable[Graph]]]:
    async def start(answer: Callable[[str, dict[str, str]], Answer]) -> Graph:
        host = Graph(answer)
        host.url = await server(host.handle)
        return host

    yield start


def renews(expires_in: object = 5_183_944) -> Callable[[str, dict[str, str]], Answer]:
    """Threads renewing every token: ``<token>`` becomes ``<token>.renewed``."""

    def answer(path: str, query: dict[str, str]) -> Answer:
        if path == "/refresh_access_token" and query.get("grant_type") == "th_refresh_token":
            return 200, json.dumps({"access_token": f"{query['access_token']}.renewed", "token_type": "bearer",
                                    "expires_in": expires_in})  # fmt: skip
        return 404, json.dumps({"error": {"message": "Unknown path", "type": "OAuthException", "code": 100}})

    return answer


def refresher(client: httpx.AsyncClient, vault: Vault) -> TokenRefresher:
    return TokenRefresher(client, vault, PublisherMetrics(ChassisMetrics("test")), AHEAD, on_committed=None)


async def add(db: Database, vault: Vault, account_id: str, platform: str, base_url: str, *, issued: timedelta,
              ends: timedelta, settings: dict | None = None) -> None:  # fmt: skip
    """An account whose token was issued (connected or renewed) ``issued`` ago and ends in ``ends``."""
    async with db.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO accounts (account_id, platform, handle, base_url, credentials, settings, token_refreshed_at,"
            " token_expires_at) VALUES ($1, $2, $1, $3, $4, $5, now() - $6::interval, now() + $7::interval)",
            account_id, platform, base_url, vault.seal({"access_token": f"{account_id}-token"}),
            settings or {"threads_user_id": USER}, issued, ends,
        )  # fmt: skip


async def claim(db: Database, refresher: TokenRefresher) -> list[str]:
    async with db.pool.acquire() as conn, conn.transaction():
        return sorted(r["account_id"] for r in await refresher.claim(conn, 10))


def close_to(moment: datetime | None, expected: datetime, seconds: float = 30) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) <= seconds


async def test_a_long_lived_token_is_renewed_days_ahead_a_short_one_minutes_ahead(graph, clean_db):
    # Every token was renewed 10 minutes before its end: a 60-day Threads token too, so one
    # outage or rate limit at that moment and it ended for good (an ended one cannot be renewed).
    host = await graph(renews())
    vault = Vault(DEV_CREDENTIALS_KEY)
    db = await Database.open(clean_db, "publisher")
    try:
        # A fifth of the lifetime ahead (at most 14 days), at least the 10 minutes of the setting.
        await add(db, vault, "threads-due", "threads", f"{host.url}/v1.0", issued=50 * DAY, ends=10 * DAY)
        await add(db, vault, "threads-later", "threads", f"{host.url}/v1.0", issued=47 * DAY, ends=13 * DAY)
        # Mastodon renews nothing: a claimed account is only looked at again when its token ends.
        await add(db, vault, "hour-due", "mastodon", host.url, issued=timedelta(minutes=51),
                  ends=timedelta(minutes=9))  # fmt: skip
        await add(db, vault, "two-hours-later", "mastodon", host.url, issued=timedelta(minutes=90),
                  ends=timedelta(minutes=30))  # fmt: skip
        async with http_client(timeout_seconds=2) as client:
            tokens = refresher(client, vault)
            assert await claim(db, tokens) == ["hour-due", "threads-due"]
        assert host.refreshed() == ["threads-due-token"]
        async with db.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM accounts WHERE account_id = 'threads-due'")
            later = await conn.fetchval(seconds_until_next_sql(AHEAD))
    finally:
        await db.close()
    now = datetime.now(UTC)
    assert vault.open(row["credentials"])["access_token"] == "threads-due-token.renewed"
    assert close_to(row["token_expires_at"], now + timedelta(seconds=5_183_944))
    assert close_to(row["token_refreshed_at"], now) and row["refresh_lease_until"] is None
    # Next: the 2-hour token, 24 minutes (a fifth of 2 hours) before its end.
    assert 6 * 60 - 30 < later <= 6 * 60


async def test_a_token_siar_cannot_renew_keeps_posting_until_its_last_minutes(clean_db):
    # Renewing 12 days early must not disconnect, 12 days early, an account whose token Siar
    # cannot renew (an Instagram token from Facebook Login): it is asked again in the last
    # 10 minutes, as before, and only then needs a person.
    vault = Vault(DEV_CREDENTIALS_KEY)
    db = await Database.open(clean_db, "publisher")
    try:
        await add(db, vault, "ig-fb", "instagram", "https://graph.facebook.com/v21.0", issued=50 * DAY, ends=10 * DAY,
                  settings={"ig_user_id": USER, "login": "facebook"})  # fmt: skip
        async with http_client(timeout_seconds=2) as client:
            tokens = refresher(client, vault)
            assert await claim(db, tokens) == ["ig-fb"]
            async with db.pool.acquire() as conn:
                row = await conn.fetchrow("SELECT status, token_expires_at - refresh_lease_until AS left FROM accounts")
                assert row["status"] == "active" and row["left"] == AHEAD
                assert await claim(db, tokens) == []
                await conn.execute("UPDATE accounts SET token_expires_at = now() + interval '5 minutes',"
                                   " refresh_lease_until = NULL")  # fmt: skip
            assert await claim(db, tokens) == ["ig-fb"]
        async with db.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT status, status_reason FROM accounts")
    finally:
        await db.close()
    assert row["status"] == "needs_reconnect" and "could not be renewed" in row["status_reason"]


def threads_without_debug_token(path: str, query: dict[str, str]) -> Answer:
    """Threads answering the account and its quota, but not debug_token (only for a tester's
    token), and renewing the token for 40 days."""
    if path == f"/v1.0/{USER}":
        return 200, json.dumps({"id": USER, "username": "perpuskota", "name": "Perpustakaan Kota"})
    if path == f"/v1.0/{USER}/threads_publishing_limit":
        return 200, json.dumps({"data": [{"quota_usage": 0, "config": {"quota_total": 250, "quota_duration": 86400}}]})
    if path == "/v1.0/debug_token":
        return 400, json.dumps({"error": {"message": "(#100) The app user is not a tester of this app",
                                          "type": "OAuthException", "code": 100}})  # fmt: skip
    return renews(40 * 86400)(path, query)


async def test_a_token_whose_expiry_is_unknown_is_assumed_to_last_60_days_and_renewed_a_day_later(
    graph, clean_db, amqp_url
):  # fmt: skip
    # Threads' debug_token answers only for a tester's token: the expiry stayed unknown, the
    # refresher skipped the account, and its 60-day token died without a word.
    host = await graph(threads_without_debug_token)
    settings = PublisherSettings(database_url=clean_db, amqp_url=amqp_url, api_tokens=f"{TOKEN}:admin",
                                 environment="test")  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://publisher", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:  # fmt: skip
        with capture_logs() as logs:
            response = await client.post("/v1/accounts", json={
                "platform": "threads", "base_url": f"{host.url}/v1.0", "credentials": {"access_token": "th-token"},
                "settings": {"threads_user_id": USER}})  # fmt: skip
    assert response.status_code in (200, 201), response.text
    account = response.json()
    registered = datetime.fromisoformat(account["token_expires_at"])
    assert close_to(registered, datetime.now(UTC) + 60 * DAY)
    said = [e for e in logs if e["event"] == "token expiry assumed"]
    assert len(said) == 1 and said[0]["account_id"] == account["account_id"], logs
    assert "did not say when the token ends" in said[0]["reason"]

    vault = Vault(settings.credentials_key)
    db = await Database.open(clean_db, "publisher")
    try:
        async with http_client(timeout_seconds=2) as client:
            tokens = refresher(client, vault)
            assert await claim(db, tokens) == []  # the token may be minutes old: Meta renews it at 24 hours
            async with db.pool.acquire() as conn:
                await conn.execute("UPDATE accounts SET token_refreshed_at = token_refreshed_at - interval '25 hours'")
            assert await claim(db, tokens) == [account["account_id"]]
        async with db.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM accounts")
    finally:
        await db.close()
    assert host.refreshed() == ["th-token"]
    assert vault.open(row["credentials"])["access_token"] == "th-token.renewed"
    assert close_to(row["token_expires_at"], datetime.now(UTC) + 40 * DAY)  # the real lifetime, learned
    assert row["token_expiry_assumed"] is False


def renews_one_garbled(path: str, query: dict[str, str]) -> Answer:
    """Renews every token; for ``b`` the answer's lifetime is out of any date's range."""
    if query.get("access_token") == "b-token":
        return 200, json.dumps({"access_token": "b-token.renewed", "expires_in": 1e300})
    return renews()(path, query)


async def test_a_refresh_that_goes_wrong_unexpectedly_never_undoes_the_others(graph, clean_db):
    # The batch's refreshes shared one transaction: an unexpected error for one account rolled
    # back the new tokens already issued for the others (single-use refresh tokens with X or
    # TikTok: those accounts then needed a person).
    host = await graph(renews_one_garbled)
    vault = Vault(DEV_CREDENTIALS_KEY)
    db = await Database.open(clean_db, "publisher")
    try:
        for account_id, ends in (("a", timedelta(minutes=1)), ("b", timedelta(minutes=2)), ("c", timedelta(minutes=3))):
            await add(db, vault, account_id, "threads", f"{host.url}/v1.0", issued=60 * DAY, ends=ends)
        async with http_client(timeout_seconds=2) as client:
            tokens = refresher(client, vault)
            with capture_logs() as logs:
                assert await claim(db, tokens) == ["a", "b", "c"]
        async with db.pool.acquire() as conn:
            rows = {r["account_id"]: r for r in await conn.fetch(
                "SELECT *, refresh_lease_until - now() AS wait FROM accounts")}  # fmt: skip
    finally:
        await db.close()
    assert host.refreshed() == ["a-token", "b-token", "c-token"]
    for account_id in ("a", "c"):
        assert vault.open(rows[account_id]["credentials"])["access_token"] == f"{account_id}-token.renewed"
        assert close_to(rows[account_id]["token_expires_at"], datetime.now(UTC) + timedelta(seconds=5_183_944))
    b = rows["b"]
    assert vault.open(b["credentials"])["access_token"] == "b-token" and b["status"] == "active"
    assert timedelta(minutes=4) < b["wait"] <= timedelta(minutes=5)  # tried again later, not in a loop
    failed = [e for e in logs if e["event"] == "token refresh failed unexpectedly; will retry"]
    assert len(failed) == 1 and failed[0]["account_id"] == "b" and "OverflowError" in failed[0]["detail"]
    assert "b-token" not in str(failed[0])
    metrics = tokens.metrics.token_refreshes
    assert metrics.labels("threads", "ok")._value.get() == 2
    assert metrics.labels("threads", "error")._value.get() == 1


async def slows_down(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """TikTok's token endpoint asking to slow down for ten minutes."""
    await reader.readuntil(b"\r\n\r\n")
    body = b'{"error": "rate_limit_exceeded", "error_description": "slow down"}'
    writer.write(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 600\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    writer.close()


async def test_a_refresh_asked_to_slow_down_waits_as_long_as_the_platform_said(server, clean_db):
    # A rate-limited refresh was tried again after a fixed minute, asking again and again.
    base = await server(slows_down)
    vault = Vault(DEV_CREDENTIALS_KEY)
    db = await Database.open(clean_db, "publisher")
    try:
        async with db.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO accounts (account_id, platform, handle, base_url, credentials, token_expires_at)"
                " VALUES ('tt', 'tiktok', 'perpuskota', $1, $2, now() + interval '5 minutes')",
                base, vault.seal({"access_token": "tt-access", "refresh_token": "tt-refresh", "client_key": "k",
                                  "client_secret": "s"}),
            )  # fmt: skip
        async with http_client(timeout_seconds=2) as client:
            assert await claim(db, refresher(client, vault)) == ["tt"]
        async with db.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT status, refresh_lease_until - now() AS wait FROM accounts")
    finally:
        await db.close()
    assert row["status"] != "needs_reconnect"
    assert timedelta(minutes=9) < row["wait"] <= timedelta(minutes=10, seconds=5)
