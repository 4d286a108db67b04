"""What the X, YouTube, TikTok and Bluesky adapter tests share (no mocks).

- ``sandbox``: the real sandbox app in-process over ASGI, every exchange recorded (with the
  bytes each request carried and its ``Content-Range``). A connection the sandbox drops (its
  ``interrupt`` fault) reaches the adapter as the ``httpx.RemoteProtocolError`` a real socket
  gives, since in-process there is no socket to close.
- ``http://media.library``: a library's media host in the same client (a tiny Starlette app)
  serving generated files of any size, for chunked uploads bigger than the sandbox's samples.
- ``live``: the same sandbox served by uvicorn on a real port, for real timeouts and real
  dropped connections."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_publisher.adapters import Outgoing, PlatformError
from siar_publisher.transport import http_client
from siar_sandbox.apikit import ConnectionCut
from siar_sandbox.app import create_app
from siar_sandbox.settings import Settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.publisher.tests.socket_kit import served

SANDBOX = "http://sandbox"
MEDIA = f"{SANDBOX}/_sandbox/media"
HOST = "http://media.library"
PROCESSING_SECONDS = 0.4


def mp4_bytes(size: int) -> bytes:
    """``size`` bytes that start like an MP4 (an ``ftyp`` box), enough for platforms that sniff."""
    head = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    pattern = bytes(range(251))
    body = pattern * (max(0, size - len(head)) // len(pattern) + 1)
    return (head + body)[:size]


async def generated(request: Request) -> Response:
    """``/<n>.mp4`` (n bytes of MP4), ``/<n>.bin`` (n bytes that are no known format)."""
    name = request.path_params["name"]
    stem, _, ext = name.partition(".")
    if not stem.isdigit() or ext not in ("mp4", "bin"):
        return Response(b"not here", status_code=404)
    size = int(stem)
    if ext == "mp4":
        return Response(mp4_bytes(size), media_type="video/mp4")
    return Response(b"\x01" * size, media_type="application/octet-stream")


media_host = Starlette(routes=[Route("/{name}", generated, methods=["GET"])])


class SocketLikeTransport(httpx.ASGITransport):
    """In-process transport; a connection the app drops becomes the error a socket would give."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionCut as exc:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            ) from exc


@dataclass
class Call:
    method: str
    path: str
    status: int
    headers: httpx.Headers
    query: str
    sent: int
    content_range: str | None


@dataclass
class Sandbox:
    client: httpx.AsyncClient
    base: str = SANDBOX
    calls: list[Call] = field(default_factory=list)

    async def control(self, method: str, path: str, body: dict | None = None) -> dict:
        r = await self.client.request(method, f"{self.base}/_sandbox{path}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    async def posts(self, platform: str) -> list[dict]:
        r = await self.client.get(f"{self.base}/_sandbox/posts", params={"platform": platform})
        return r.json()["posts"]

    async def faults(self, platform: str, *sequence: str, **extra) -> None:
        await self.control("PUT", "/faults", {"platform": platform, "sequence": list(sequence), **extra})

    async def advance(self, seconds: float) -> None:
        await self.control("PUT", "/clock", {"advance_seconds": seconds})

    async def limit(self, platform: str, scope: str, limit: int, window_seconds: int) -> None:
        await self.control("PUT", "/limits", {"platform": platform, "scope": scope, "limit": limit,
                                              "window_seconds": window_seconds})  # fmt: skip

    async def token(self, action: str, platform: str, token: str) -> None:
        await self.control("POST", f"/tokens/{action}", {"platform": platform, "token": token})

    def to(self, part: str, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if part in c.path and (method is None or c.method == method)]


def recorder(calls: list[Call]):
    async def record(response: httpx.Response) -> None:
        request = response.request
        try:
            sent = len(request.content)
        except httpx.RequestNotRead:
            sent = -1
        calls.append(Call(request.method, request.url.path, response.status_code, response.headers,
                          request.url.query.decode(), sent, request.headers.get("content-range")))  # fmt: skip

    return record


@pytest.fixture
def settings() -> Settings:
    return Settings(media_processing_seconds=PROCESSING_SECONDS)


@pytest.fixture
async def sandbox(settings: Settings) -> AsyncIterator[Sandbox]:
    calls: list[Call] = []
    mounts = {
        "http://sandbox": SocketLikeTransport(app=create_app(settings)),
        "http://media.library": httpx.ASGITransport(app=media_host),
    }
    async with httpx.AsyncClient(mounts=mounts, event_hooks={"response": [recorder(calls)]}) as client:
        yield Sandbox(client, SANDBOX, calls)


@pytest.fixture(scope="module")
async def live_server() -> AsyncIterator[str]:
    """The sandbox served by uvicorn on a real port: timeouts and dropped connections are real."""
    async with served(create_app(Settings(media_processing_seconds=0.2, graceful_shutdown_seconds=1.0))) as url:
        yield url


@pytest.fixture
async def live(live_server: str) -> AsyncIterator[Sandbox]:
    """A client of the real-socket sandbox, reset first; its default timeout is 5 s."""
    calls: list[Call] = []
    async with http_client(timeout_seconds=5, event_hooks={"response": [recorder(calls)]}) as client:
        kit = Sandbox(client, live_server, calls)
        await kit.control("POST", "/reset")
        yield kit


def outgoing(text: str = "Jam buka perpustakaan minggu ini: 08.00–16.00", *media: MediaItem,
             target: str = "target-1", title: str | None = None, first_attempt_at: datetime | None = None,
             progress: dict | None = None) -> Outgoing:  # fmt: skip
    """One delivery's post. ``progress`` given (a dict): what attempts keep is kept there, as
    the delivery worker keeps it in the database; None: nothing is kept between attempts."""
    kept = progress if progress is not None else {}

    async def checkpoint(values: dict) -> None:
        kept.update(values)

    return Outgoing(target_id=target, text=text, media=media, title=title, idempotency_key=f"siar-{target}",
                    first_attempt_at=first_attempt_at or datetime.now(UTC), progress=kept,
                    checkpoint=checkpoint if progress is not None else None)  # fmt: skip


def image(name: str = "poster.png", alt: str | None = "Poster lomba membaca", base: str = MEDIA) -> MediaItem:
    return MediaItem(url=f"{base}/{name}", kind="image", alt_text=alt)


def video(name: str = "clip.mp4", base: str = MEDIA, **extra) -> MediaItem:
    return MediaItem(url=f"{base}/{name}", kind="video", alt_text="Cuplikan acara", **extra)


def big_video(size: int) -> MediaItem:
    return MediaItem(url=f"{HOST}/{size}.mp4", kind="video", mime_type="video/mp4")


@pytest.fixture
def memory_capped(monkeypatch):
    """Memory takes media of at most 64 KiB here; the memory budget is this test's own (returned)."""
    from siar_publisher.adapters import mediafetch

    budget = mediafetch.MediaBudget(64 * 1024)
    monkeypatch.setattr(mediafetch, "BUDGET", budget)
    monkeypatch.setattr(mediafetch, "MAX_MEDIA_BYTES", 64 * 1024)
    return budget


@pytest.fixture
def disk(monkeypatch, tmp_path):
    """Media downloaded to disk goes to ``tmp_path``, within a disk budget of this test's own
    (returned); the garbage collector is off, so a file an adapter forgets to close stays held."""
    import gc

    from siar_publisher.adapters import mediafetch

    budget = mediafetch.MediaBudget(1024**3)
    monkeypatch.setattr(mediafetch, "DISK", budget)
    monkeypatch.setattr(mediafetch, "MEDIA_DIR", str(tmp_path))
    gc.disable()
    yield budget
    gc.enable()


def mp4_digest(size: int) -> str:
    return hashlib.sha256(mp4_bytes(size)).hexdigest()


async def refused(coro, error_class: ErrorClass) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        await coro
    assert caught.value.error_class == error_class, (caught.value.error_class, caught.value.reason,
                                                     caught.value.detail)  # fmt: skip
    assert caught.value.reason
    return caught.value


def close_to(moment: datetime | None, expected: datetime, seconds: float = 5.0) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) < seconds
