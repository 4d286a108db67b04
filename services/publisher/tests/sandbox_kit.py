"""What the Facebook, Instagram, Threads and LinkedIn adapter tests share: the real sandbox app
in-process over ASGI (every exchange recorded), the same app on a real socket for timeouts,
and small builders. Import the fixtures into a test module to use them (no mocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_publisher.adapters import Outgoing, PlatformError
from siar_publisher.transport import http_client
from siar_sandbox.app import create_app
from siar_sandbox.settings import Settings

from services.publisher.tests.socket_kit import served

SANDBOX = "http://sandbox"
MEDIA = f"{SANDBOX}/_sandbox/media"


@dataclass
class Call:
    method: str
    path: str
    status: int
    headers: httpx.Headers
    query: str


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

    async def revoke(self, platform: str, token: str) -> None:
        await self.control("POST", "/tokens/revoke", {"platform": platform, "token": token})

    def to(self, part: str, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if part in c.path and (method is None or c.method == method)]

    def ends(self, suffix: str, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.path.endswith(suffix) and (method is None or c.method == method)]


def recorder(calls: list[Call]):
    async def record(response: httpx.Response) -> None:
        request = response.request
        calls.append(Call(request.method, request.url.path, response.status_code, response.headers,
                          request.url.query.decode()))  # fmt: skip

    return record


@pytest.fixture
def settings() -> Settings:
    return Settings(meta_video_processing_seconds=0.5, meta_image_processing_seconds=0.0)


@pytest.fixture
async def sandbox(settings: Settings) -> AsyncIterator[Sandbox]:
    calls: list[Call] = []
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, event_hooks={"response": [recorder(calls)]}) as client:
        yield Sandbox(client, SANDBOX, calls)


@pytest.fixture(scope="module")
async def live_server() -> AsyncIterator[str]:
    """The sandbox app served by uvicorn on a real port: client timeouts are real timeouts."""
    async with served(create_app(Settings(meta_video_processing_seconds=0.0, graceful_shutdown_seconds=1.0))) as url:
        yield url


@pytest.fixture
async def live(live_server: str) -> AsyncIterator[Sandbox]:
    """A client of the real-socket sandbox, reset before the test; its default timeout is 5 s."""
    calls: list[Call] = []
    async with http_client(timeout_seconds=5, event_hooks={"response": [recorder(calls)]}) as client:
        kit = Sandbox(client, live_server, calls)
        await kit.control("POST", "/reset")
        yield kit


def outgoing(text: str = "Jam buka perpustakaan minggu ini: 08.00–16.00", *media: MediaItem,
             target: str = "target-1", first_attempt_at: datetime | None = None,
             progress: dict | None = None) -> Outgoing:  # fmt: skip
    kept = progress if progress is not None else {}

    async def checkpoint(values: dict) -> None:
        kept.update(values)

    return Outgoing(target_id=target, text=text, media=media, idempotency_key=f"siar-{target}",
                    first_attempt_at=first_attempt_at or datetime.now(UTC), progress=kept,
                    checkpoint=checkpoint if progress is not None else None)  # fmt: skip


def image(name: str = "photo.jpg", alt: str | None = "Poster lomba membaca", base: str = MEDIA) -> MediaItem:
    mime = {"jpg": "image/jpeg", "png": "image/png"}.get(name.rsplit(".", 1)[-1])
    return MediaItem(url=f"{base}/{name}", kind="image", alt_text=alt, mime_type=mime)


def video(name: str = "clip.mp4", base: str = MEDIA) -> MediaItem:
    return MediaItem(url=f"{base}/{name}", kind="video", alt_text="Cuplikan acara", mime_type="video/mp4")


async def refused(coro, error_class: ErrorClass) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        await coro
    assert caught.value.error_class == error_class, (caught.value.error_class, caught.value.reason,
                                                     caught.value.detail)  # fmt: skip
    assert caught.value.reason
    return caught.value


def close_to(moment: datetime | None, expected: datetime, seconds: float = 5.0) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) < seconds
