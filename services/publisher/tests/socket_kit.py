"""Real sockets for the publisher's tests (no mocks): an ASGI app served by uvicorn on a free
port, and raw asyncio servers whose handlers answer (or fail to) byte by byte."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from siar_devstack.serving import served

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """``await server(handler)`` starts a raw TCP server with ``handler`` and returns its URL."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        srv = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(srv)
        return f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"

    yield start
    for srv in servers:
        srv.close()


__all__ = ["Handler", "served", "server"]
