"""Fixtures for the sandbox tests: the real app over ASGI, a real uvicorn server on a free port,
and small media files built in memory."""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from siar_devstack.serving import served
from siar_sandbox.app import create_app
from siar_sandbox.settings import Settings

MASTODON_TOKEN = "library.secret"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


@pytest.fixture
def settings() -> Settings:
    return Settings(media_processing_seconds=0.3)


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as c:
        yield c


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {MASTODON_TOKEN}"}


@pytest.fixture
def tg() -> str:
    """The Bot API base path for the test bot."""
    return f"/telegram/bot{TELEGRAM_TOKEN}"


def _png(width: int = 64, height: int = 48) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def png() -> Callable[..., bytes]:
    return _png


@pytest.fixture
def mp4() -> bytes:
    return b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 2048


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def live_server() -> AsyncIterator[str]:
    """The app served by uvicorn on a real port, so client timeouts are real timeouts."""
    async with served(create_app(Settings()), graceful_shutdown_seconds=2) as url:
        yield url
