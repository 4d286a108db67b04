"""Credentials never leave with an error: a Telegram bot token (in the URL path), a Graph
access_token (in the query) and a signed media URL's signature stay out of the reasons and
details that go into deliveries.detail, events, logs and the account-connect answer — after a
connect timeout, a refused port, a read timeout and an HTTP error, on real sockets."""

# ruff: noqa: F811 - the server fixture imported from socket_kit is redefined as a parameter

from __future__ import annotations

import asyncio
import socket
import traceback
from datetime import timedelta

import httpx
import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_publisher.accounts import register
from siar_publisher.adapters import ADAPTERS, Account, PlatformError
from siar_publisher.adapters.base import transport_error
from siar_publisher.adapters.mediafetch import fetch_media
from siar_publisher.metrics import PublisherMetrics
from siar_publisher.redact import credential_values, redact_text, redact_url, url_secrets
from siar_publisher.schemas import AccountCreate
from siar_publisher.settings import DEV_CREDENTIALS_KEY
from siar_publisher.tokens import TokenRefresher
from siar_publisher.transport import http_client
from siar_publisher.vault import Vault
from siar_runtime.auth import Caller
from siar_runtime.db import Database
from siar_runtime.metrics import ChassisMetrics
from siar_runtime.problems import Problem
from structlog.testing import capture_logs

from services.publisher.tests.socket_kit import server  # noqa: F401 - a fixture

BOT_TOKEN = "123456:SECRET-BOT-TOKEN"
GRAPH_TOKEN = "EAAGsecretGraphToken42"
SIGNATURE = "d3adb33fsignature"
SECRETS = ("SECRET-BOT-TOKEN", GRAPH_TOKEN, SIGNATURE)

def assert_clean(*texts: object) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text), text


def assert_error_clean(error: PlatformError) -> None:
    """The reason, the detail and the whole traceback a log.exception would print."""
    assert_clean(error.reason, error.detail, error.connect_reason,
                 "".join(traceback.format_exception(error)))  # fmt: skip


def telegram(base: str) -> Account:
    return Account(account_id="a", platform="telegram", handle="@perpus", base_url=base,
                   credentials={"bot_token": BOT_TOKEN}, settings={"chat_id": "@perpus"})  # fmt: skip


async def graph_call(client: httpx.AsyncClient, base: str, **options) -> PlatformError:
    """A Graph call with its token in the query, as the token refresh and debug_token make it."""
    with pytest.raises(httpx.HTTPError) as caught:
        await client.get(f"{base}/v21.0/debug_token", params={"input_token": GRAPH_TOKEN,
                                                              "access_token": GRAPH_TOKEN}, **options)  # fmt: skip
    return transport_error(caught.value, "Instagram")


async def telegram_verify(client: httpx.AsyncClient, base: str) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        await ADAPTERS["telegram"].verify(client, telegram(base))
    return caught.value


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        pass  # the test is over and its server closed


def full_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A port that is listened on but whose backlog is full: a new connection never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    return listener, fillers


async def test_a_connect_timeout_or_a_refused_port_keeps_the_tokens_out(server):
    # A connection that never completes (the port's backlog is full).
    listener, fillers = full_listener()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        async with http_client(timeout_seconds=2) as client:
            error = await graph_call(client, base, timeout=httpx.Timeout(2, connect=0.3))
    finally:
        for s in (listener, *fillers):
            s.close()
    assert_error_clean(error)
    assert error.error_class is ErrorClass.TRANSIENT and "ConnectTimeout" in error.detail
    assert "/v21.0/debug_token" in error.detail and "access_token=***" in error.detail  # still says where

    # No free connection in time (the reviewer's case): the only one waits on a silent server.
    base = await server(silent)
    async with http_client(timeout_seconds=0.5, max_connections=1) as client:
        first, second = await asyncio.gather(telegram_verify(client, base), telegram_verify(client, base))
    assert {first.error_class, second.error_class} == {ErrorClass.TRANSIENT, ErrorClass.OUTCOME_UNKNOWN}
    for error in (first, second):
        assert_error_clean(error)
        assert "/bot***/getMe" in error.detail

    # A port nobody listens on.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with http_client(timeout_seconds=2) as client:
        for error in (await telegram_verify(client, refused), await graph_call(client, refused)):
            assert error.error_class is ErrorClass.TRANSIENT and "ConnectError" in error.detail
            assert_error_clean(error)


async def test_a_read_timeout_keeps_the_tokens_and_the_signature_out(server):
    base = await server(silent)
    async with http_client(timeout_seconds=0.3) as client:
        errors = [await telegram_verify(client, base), await graph_call(client, base)]
        with pytest.raises(PlatformError) as caught:
            await fetch_media(client, MediaItem(url=f"{base}/media/a.jpg?X-Amz-Signature={SIGNATURE}&v=2",
                                                kind="image"))  # fmt: skip
        errors.append(caught.value)
    for error in errors:
        assert_error_clean(error)
        assert "ReadTimeout" in error.detail, error.detail
    assert errors[2].reason == f"could not download the media at {base}/media/a.jpg?X-Amz-Signature=***&v=2; " \
                               "Siar will try again"


async def garbles(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 abc not-a-status\r\n\r\n")
    await writer.drain()
    writer.close()


async def echoes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A proxy or a wrong address that quotes the request line in its 404."""
    line = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")[0]
    body = b"Cannot handle " + line
    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))
    await writer.drain()
    writer.close()


async def test_an_http_error_keeps_the_tokens_out(server):
    garbled = await server(garbles)
    async with http_client(timeout_seconds=2) as client:
        for error in (await telegram_verify(client, garbled), await graph_call(client, garbled)):
            assert error.error_class is ErrorClass.OUTCOME_UNKNOWN and "RemoteProtocolError" in error.detail
            assert_error_clean(error)
        # The library's media host refuses a signed URL.
        with pytest.raises(PlatformError) as caught:
            await fetch_media(client, MediaItem(url=f"{await server(echoes)}/a.jpg?sig={SIGNATURE}", kind="image"))
        assert caught.value.error_class is ErrorClass.INVALID_CONTENT and "HTTP 404" in caught.value.detail
        assert_error_clean(caught.value)

        # Connecting an account: the answer to the admin never carries the token back, even when
        # the platform's (or a proxy's) words quote it.
        echoing = await server(echoes)
        request = AccountCreate(platform="telegram", base_url=echoing, credentials={"bot_token": BOT_TOKEN},
                                settings={"chat_id": "@perpus"})  # fmt: skip
        with pytest.raises(Problem) as caught_problem:
            await register(None, client, None, request, actor=Caller("test", "admin"))  # refused before the database
    body = caught_problem.value.body()
    assert body["platform_detail"].startswith("HTTP 404") and "bot***" in body["platform_detail"]
    assert_clean(body)


def test_urls_lose_their_credentials_and_keep_where_they_point():
    assert redact_url("https://api.telegram.org/bot123456:SECRET-BOT-TOKEN/sendMessage") == \
        "https://api.telegram.org/bot***/sendMessage"
    assert redact_url("https://api.telegram.org/file/bot123456%3ASECRET-BOT-TOKEN/photos/a.jpg") == \
        "https://api.telegram.org/file/bot***/photos/a.jpg"
    assert redact_url(
        "https://graph.facebook.com/v21.0/debug_token?input_token=A1&access_token=A2&fields=id,name"
    ) == "https://graph.facebook.com/v21.0/debug_token?input_token=***&access_token=***&fields=id,name"
    for name in ("client_secret", "refresh_token", "fb_exchange_token", "code", "key", "token", "Access_Token",
                 "my_token", "app_secret", "db_password", "X-Amz-Signature", "X-Amz-Credential",
                 "X-Amz-Security-Token", "sig", "signature", "X-Goog-Signature"):
        assert redact_url(f"https://h/p?a=1&{name}=VALUE42&b=2") == f"https://h/p?a=1&{name}=***&b=2", name
    assert redact_url("https://user:pa55@media.example:8443/a/b.png?x=1#access_token=F") == \
        "https://***@media.example:8443/a/b.png?x=1"
    plain = "https://media.perpus.example/2026/poster%20lomba.jpg?w=800&fields=id,permalink"
    assert redact_url(plain) == plain
    assert sorted(url_secrets("https://h/bot1:S%2DX/getMe?access_token=a%2Bb&x=1")) == \
        sorted(["1:S%2DX", "1:S-X", "a%2Bb", "a+b"])


def test_text_loses_the_credentials_wherever_they_appear():
    said = ("ConnectionTimeoutError: Connection timeout to host "
            "http://127.0.0.1:9/bot123456:SECRET-BOT-TOKEN/getMe?access_token=EAAG42; "
            "400, message='bad', url='https://graph.example/me?fields=id&client_secret=CS42' "
            "POST /bot99:ABC_def-1/sendMessage refresh_token=RT42 "
            '{"access_token": "AT42", "expires_in": 3600} Authorization: Bearer abcdefgh12345')
    assert redact_text(said) == (
        "ConnectionTimeoutError: Connection timeout to host http://127.0.0.1:9/bot***/getMe?access_token=***; "
        "400, message='bad', url='https://graph.example/me?fields=id&client_secret=***' "
        "POST /bot***/sendMessage refresh_token=*** "
        '{"access_token": "***", "expires_in": 3600} Authorization: Bearer ***')
    # The words Siar writes itself stay as they are.
    for words in ("Telegram did not accept the bot token: it is wrong or was revoked; paste the token @BotFather gives",
                  "HTTP 400: code 190, Invalid OAuth access token", "the media at https://h/a.jpg is too large"):
        assert redact_text(words) == words
    # A platform's error code is what explains the failure: it stays (only a URL's ?code= is an
    # OAuth code); so do names that merely contain a secret's word.
    for words in ('{"error": {"code": "access_token_invalid", "message": "The access token is invalid"}}',
                  "status=403 code=190 token_count=5", '{"token_type": "bearer", "expires_in": 3600}'):
        assert redact_text(words) == words
    assert redact_text("https://x.example/oauth?code=C0DE42&state=s") == "https://x.example/oauth?code=***&state=s"
    # An account's own credential values, however encoded, wherever the platform echoes them.
    secrets = credential_values({"access_token": "tok/en+42=", "app_password": "abcd-efgh-ijkl-mnop",
                                 "identifier": "perpus.example", "client_id": "12345678"})
    assert secrets == ["tok/en+42=", "abcd-efgh-ijkl-mnop"]
    assert redact_text("said tok/en+42= and tok%2Fen%2B42%3D and abcd-efgh-ijkl-mnop to perpus.example "
                       "(client 12345678)", secrets) == "said *** and *** and *** to perpus.example (client 12345678)"


async def test_a_failed_token_refresh_logs_no_token(server, clean_db):
    """The refresher's log line when a refresh fails for now (Threads renews with its token in
    the query) carries no credential."""
    garbled = await server(garbles)
    vault = Vault(DEV_CREDENTIALS_KEY)
    db = await Database.open(clean_db, "publisher")
    try:
        async with db.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO accounts (account_id, platform, handle, base_url, credentials, settings, token_expires_at)"
                " VALUES ('t1', 'threads', '@perpus', $1, $2, $3, now() + interval '1 hour')",
                garbled, vault.seal({"access_token": GRAPH_TOKEN}), {"threads_user_id": "1"},
            )
        async with http_client(timeout_seconds=2) as client:
            refresher = TokenRefresher(client, vault, PublisherMetrics(ChassisMetrics("test")), timedelta(days=1),
                                       on_committed=None)  # fmt: skip
            with capture_logs() as logs:
                async with db.pool.acquire() as conn, conn.transaction():
                    assert len(await refresher.claim(conn, 10)) == 1
    finally:
        await db.close()
    failed = [entry for entry in logs if entry["event"] == "token refresh failed; will retry"]
    assert len(failed) == 1
    assert_clean(failed[0])
    assert "RemoteProtocolError" in failed[0]["detail"] and "access_token=***" in failed[0]["detail"]


async def test_a_post_refused_by_a_page_quoting_the_request_keeps_the_token_out(server):
    # Telegram's adapter copies a non-JSON error body into the delivery's detail; a proxy's page
    # that repeats the request line would have carried the bot token into deliveries.detail,
    # post.failed and the log. Every PlatformError is redacted as it is made.
    from siar_publisher.adapters import Outgoing

    echoing = await server(echoes)
    async with http_client(timeout_seconds=2) as client:
        with pytest.raises(PlatformError) as caught:
            await ADAPTERS["telegram"].publish(client, telegram(echoing), Outgoing(target_id="t", text="Halo"))
    assert "bot***" in f"{caught.value.reason} {caught.value.detail}"
    assert_error_clean(caught.value)

