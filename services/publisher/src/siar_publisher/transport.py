"""The publisher's HTTP client: httpx's API over aiohttp's connection pool.

The adapters speak httpx (requests, responses, exceptions). Its default transport, httpcore 1.0,
walks every pooled connection — with a readability syscall each — for every request it queues
or finishes, so at the publisher's concurrency (64–128 calls in flight) the pool bookkeeping
cost 2.2 ms of CPU per call: more than everything else the publisher does for a post together.
aiohttp's pool hands out a free connection in constant time; behind httpx it costs 0.3 ms a call
(bench/http_client.py; docs/benchmarks.md, "Where the CPU went").

What this module must get exactly right is which failures mean the platform may have acted:
the adapters treat ReadTimeout, ReadError and RemoteProtocolError as "the request was sent, the
outcome is unknown" — Siar then checks before sending again — and ConnectError, ConnectTimeout,
PoolTimeout, WriteError and WriteTimeout as "not sent, safe to retry". aiohttp's
exceptions are mapped onto those meanings below; anything unrecognised counts as sent.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import aiohttp.abc
import httpx
from siar_runtime.egress import Egress

from .redact import redact_text, redact_url, url_secrets

# aiohttp exception → httpx exception, most specific first (the first isinstance match wins).
_EXCEPTIONS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    # Before the request left: the connection could not be made or no pooled one freed up.
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    # Writing the request failed: the platform never had all of it (httpx: WriteError).
    (aiohttp.ClientConnectionResetError, httpx.WriteError),
    # After the request left: the platform may have acted on it.
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # a malformed status line or header
    (aiohttp.ClientError, httpx.ReadError),
    (TimeoutError, httpx.ReadTimeout),
)


# aiohttp reports a request whose body could not be written (the connection closed under it —
# typically a pooled connection the server had just closed as idle) as a ClientOSError or a
# ClientConnectionError with these words: the platform never had the whole request.
_UNSENT = ("Can not write request body", "Failed to send bytes into the underlying connection")


def _described(exc: BaseException, request: httpx.Request | None) -> str:
    """What the mapped exception says: aiohttp's exception type, the method and the URL without
    its credentials, and aiohttp's own words unless they quote the URL. The adapters copy this
    into delivery details, events and logs; the URL may carry a credential (Telegram's bot token
    in the path, the Graph APIs' access_token in the query), which must not go with it."""
    said = str(exc)
    if isinstance(exc, aiohttp.ClientResponseError):  # its str() ends with url='…'
        said = f"{exc.status}, message={exc.message!r}"
    text = type(exc).__name__
    if request is not None:
        text += f" on {request.method} {redact_url(str(request.url))}"
    if said and "://" not in said:
        text += f": {said}"
    return redact_text(text, url_secrets(str(request.url)) if request is not None else ())


def _mapped(exc: BaseException, request: httpx.Request | None = None) -> httpx.TransportError:
    if isinstance(exc, aiohttp.ClientConnectionError) and any(words in str(exc) for words in _UNSENT):
        return httpx.WriteError(_described(exc, request))
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(_described(exc, request))
    raise TypeError(f"not an aiohttp failure: {type(exc).__name__}") from None  # the callers catch only the table's types


STREAM = "siar_stream"
"""A request extension (``extensions={STREAM: True}``): its body, an async iterator, goes out as
it is read, and its answer comes back unread, to be read as a stream (``client.stream``). For
media: a video of gigabytes is downloaded to disk and uploaded from it, never held whole."""


MEDIA = "siar_media"
"""A request extension (``extensions={MEDIA: True}``): the URL is a link an editor gave (a post's
media), fetched only from the addresses :class:`siar_runtime.egress.Egress` allows — checked on
the addresses the connection is then made to, on every redirect too (httpx keeps a request's
extensions when it follows one). A link refused raises :class:`siar_runtime.egress.Refused`."""


class _GuardedResolver(aiohttp.abc.AbstractResolver):
    """Resolves a media link's host to the addresses Siar may fetch from, and only those."""

    def __init__(self, egress: Egress) -> None:
        self._egress = egress

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[aiohttp.abc.ResolveResult]:
        return [aiohttp.abc.ResolveResult(hostname=host, host=address, port=port, family=found, proto=0,
                                          flags=socket.AI_NUMERICHOST)
                for found, address in await self._egress.resolve(host, port, family)]

    async def close(self) -> None:
        return None


class _Answer(httpx.AsyncByteStream):
    """An aiohttp answer's body, read as httpx reads a stream; its failures are httpx's too."""

    def __init__(self, answer: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._answer, self._request = answer, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.content.iter_chunked(64 * 1024):
                yield chunk
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = _mapped(exc, self._request)
        raise failure  # outside the except block, as in _send

    async def aclose(self) -> None:
        # Read to its end, the connection goes back to the pool; cut short, it is closed.
        self._answer.release()


async def _sent_as_read(stream: httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request through one aiohttp session.

    Responses are read whole before they are returned (but for a request marked :data:`STREAM`),
    so a connection goes back to the pool as soon as its response is in, and a read that stalls
    in the body is a ReadTimeout like one that stalls before the status line. Content decoding,
    redirects, cookies and proxies stay httpx's: aiohttp is told to do none of them."""

    def __init__(self, limits: httpx.Limits, egress: Egress | None = None) -> None:
        self._limits = limits
        self._egress = egress
        self._session: aiohttp.ClientSession | None = None
        self._guarded: aiohttp.ClientSession | None = None  # for MEDIA requests, when egress is given

    def _open(self, resolver: aiohttp.abc.AbstractResolver | None = None) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=resolver,
            use_dns_cache=resolver is None,  # a media link's name is checked each time it is resolved
            limit=self._limits.max_connections or 0,
            limit_per_host=0,
            # An idle connection is dropped before a server would drop it (uvicorn's and
            # gunicorn's keep-alive is 5 s): one the server already closed fails when reused.
            keepalive_timeout=min(self._limits.keepalive_expiry or 4.0, 4.0),
            ssl=httpx.create_ssl_context(),  # the same CA bundle httpx would use (SSL_CERT_FILE honoured)
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                     auto_decompress=False, skip_auto_headers=("User-Agent",))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = await self._session_for(request)
        if request.extensions.get(STREAM):
            try:
                body: bytes | AsyncIterator[bytes] = request.content  # in memory already (a GET's none)
            except httpx.RequestNotRead:
                body = _sent_as_read(request.stream)  # type: ignore[arg-type]
            # Not sent again after a WriteError: a body read as it went cannot go a second time
            # (the attempt fails as not sent, and the delivery tries again).
            return await self._send(session, request, body, stream=True)
        body = await request.aread()
        try:
            return await self._send(session, request, body)
        except httpx.WriteError:
            # Not sent: once more, on another connection (the one that failed is closed).
            return await self._send(session, request, body)

    async def _session_for(self, request: httpx.Request) -> aiohttp.ClientSession:
        if self._egress is not None and request.extensions.get(MEDIA):
            # Checked here first as well: aiohttp connects to an address given as such without
            # asking the resolver, and refuses some numeric hosts (2130706433, 127.1) as invalid
            # URLs, which would read as a download to try again. A name is then resolved again
            # by the guarded resolver, which is what the connection uses.
            await self._egress.resolve(request.url.host, request.url.port or 0)
            if self._guarded is None:
                self._guarded = self._open(_GuardedResolver(self._egress))
            return self._guarded
        if self._session is None:
            self._session = self._open()
        return self._session

    async def _send(self, session: aiohttp.ClientSession, request: httpx.Request,
                    body: bytes | AsyncIterator[bytes], *, stream: bool = False) -> httpx.Response:  # fmt: skip
        timeout = request.extensions.get("timeout", {})
        try:
            answer = await session.request(
                request.method,
                str(request.url),
                # The body goes with its Content-Length (an iterator's is the caller's): a chunked
                # header would not match.
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                         if k.lower() != b"transfer-encoding"],
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),  # aiohttp's "connect" is waiting for the pool + connecting
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
            extensions = {"http_version": f"HTTP/{answer.version.major}.{answer.version.minor}".encode(),
                          "reason_phrase": (answer.reason or "").encode("latin-1", "replace")}
            if stream:
                return httpx.Response(answer.status, headers=answer.raw_headers, stream=_Answer(answer, request),
                                      extensions=extensions)  # fmt: skip
            try:
                content = await answer.read()
            finally:
                answer.release()
            return httpx.Response(answer.status, headers=answer.raw_headers, content=content, extensions=extensions)
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = _mapped(exc, request)
        # Raised outside the except block: aiohttp's exception, whose message quotes the whole URL
        # (credentials and all), is then neither the cause nor the context of this one, so no
        # traceback that is logged carries it.
        raise failure

    async def aclose(self) -> None:
        for session in (self._session, self._guarded):
            if session is not None:
                await session.close()
        self._session = self._guarded = None


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing (see :class:`PlatformClient`)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


_NO_COOKIES = _NoCookies()


class PlatformClient(httpx.AsyncClient):
    """httpx's client without its cookie jar. One client serves every account, so a cookie that
    one account's answer set (X, LinkedIn and Meta set them on API responses) would ride along on
    the next account's request to the same host; no platform API Siar calls needs one. It also
    spares a cookiejar pass over every response (≈ 5 % of the publisher's CPU in a burst)."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, value: object) -> None:
        raise TypeError("the platform client keeps no cookies")


def http_client(*, timeout_seconds: float, max_connections: int = 128,
                user_agent: str = "Siar/0.1 (+https://siar.dev)", egress: Egress | None = None,
                **options) -> PlatformClient:  # fmt: skip
    """The client every adapter call goes through (``options``: more httpx.AsyncClient arguments).
    Idle connections stay pooled up to ``max_connections`` in all, each for at most 4 s
    (aiohttp's pool has no separate cap on idle ones). ``egress``: where requests marked
    :data:`MEDIA` may go (None: anywhere, for tests of the adapters alone)."""
    limits = httpx.Limits(max_connections=max_connections)
    return PlatformClient(
        timeout=httpx.Timeout(timeout_seconds, connect=5.0),
        limits=limits,
        transport=AiohttpTransport(limits, egress),
        headers={"User-Agent": user_agent},
        **options,
    )
