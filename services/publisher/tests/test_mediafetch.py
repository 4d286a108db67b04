"""Fetching a post's media from the library's media host: what comes back, and what is refused
(a real Starlette host served by uvicorn on a real port: in-process, httpx's ASGI transport would
read a whole streamed body before answering, hiding whether the download stops early)."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_publisher.adapters import PlatformError
from siar_publisher.adapters.mediafetch import MAX_MEDIA_BYTES, fetch_media
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from services.publisher.tests.socket_kit import served

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


async def file(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "poster.png":
        return Response(PNG, media_type="application/octet-stream")
    if name == "busy.png":
        return Response(b"later", status_code=503)
    if name.startswith("stream-"):  # no Content-Length: the size shows only while reading
        size = int(name.removeprefix("stream-").removesuffix(".mp4"))

        async def chunks():
            for _ in range(size // 65536):
                yield b"\x00" * 65536

        return StreamingResponse(chunks(), media_type="video/mp4")
    if name.startswith("big-"):
        return Response(b"\x00" * int(name.removeprefix("big-").removesuffix(".mp4")), media_type="video/mp4")
    return Response(b"not here", status_code=404)


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[str]:
    async with served(Starlette(routes=[Route("/{name}", file)])) as url:
        yield url


@pytest.fixture
async def client(host):
    async with httpx.AsyncClient(base_url=host) as c:
        yield c


def item(name: str) -> MediaItem:
    return MediaItem(url=f"{name}", kind="image")


async def test_the_file_comes_back_with_its_type_sniffed(client):
    fetched = await fetch_media(client, item("poster.png"))
    assert fetched.data == PNG and fetched.content_type == "image/png" and fetched.name == "poster.png"


async def test_a_file_above_the_limit_is_refused_by_its_declared_length(client):
    with pytest.raises(PlatformError) as caught:
        await fetch_media(client, item("big-5000.mp4"), limit=4096)
    assert caught.value.error_class is ErrorClass.INVALID_CONTENT
    assert "larger than Siar uploads" in caught.value.reason and "5,000" in caught.value.detail


async def test_a_file_above_the_limit_without_a_length_stops_being_read(client):
    tracemalloc.start()
    try:
        with pytest.raises(PlatformError) as caught:
            await fetch_media(client, item("stream-268435456.mp4"), limit=64 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.error_class is ErrorClass.INVALID_CONTENT
    # The download stopped soon after the limit instead of holding the whole 256 MiB.
    assert peak < 4 * 1024**2, peak


async def test_within_the_limit_is_read_whole(client):
    fetched = await fetch_media(client, item("stream-131072.mp4"), limit=131072)
    assert len(fetched.data) == 131072 and fetched.content_type == "video/mp4"
    assert 100 * 1024**2 <= MAX_MEDIA_BYTES <= 256 * 1024**2  # twice it fits in the publisher's 512 MiB


async def test_refusals_of_the_media_host(client):
    with pytest.raises(PlatformError) as missing:
        await fetch_media(client, item("gone.png"))
    assert missing.value.error_class is ErrorClass.INVALID_CONTENT and "HTTP 404" in missing.value.reason
    with pytest.raises(PlatformError) as busy:
        await fetch_media(client, item("busy.png"))
    assert busy.value.error_class is ErrorClass.TRANSIENT


async def test_media_waits_for_room_while_other_files_are_held(client, monkeypatch):
    # The same video to three platforms is fetched three times: at once, the copies would not fit
    # the publisher's memory. A fetch waits until a file held by another upload is let go.
    from siar_publisher.adapters import mediafetch

    budget = mediafetch.MediaBudget(300_000)
    monkeypatch.setattr(mediafetch, "BUDGET", budget)
    first = await fetch_media(client, item("big-200000.mp4"))
    assert budget.held == 200_000
    second = asyncio.create_task(fetch_media(client, item("big-150000.mp4")))
    await asyncio.sleep(0.3)
    assert not second.done()  # 200,000 + 150,000 held would be more than the room
    small = await fetch_media(client, item("big-90000.mp4"))  # what fits goes on meanwhile
    assert budget.held == 290_000
    del first  # the first upload is done: its file is let go
    fetched = await asyncio.wait_for(second, 5)
    assert len(fetched.data) == 150_000 and budget.held == 240_000
    del fetched, small, second  # (the task keeps its result)
    assert budget.held == 0
    # One file is always let through, however large (within the cap).
    alone = await fetch_media(client, item("big-400000.mp4"))
    assert budget.held == 400_000
    del alone
    assert budget.held == 0


async def test_a_platforms_own_limit_is_said_in_its_words_and_never_lifts_siars(client, monkeypatch):
    from siar_publisher.adapters import mediafetch

    monkeypatch.setattr(mediafetch, "MAX_MEDIA_BYTES", 8 * 1024**2)
    with pytest.raises(PlatformError) as platform:
        await fetch_media(client, item("big-5000.mp4"), limit=4096, too_large="Bluesky takes images of up to 4,096 bytes")
    assert platform.value.reason == "Bluesky takes images of up to 4,096 bytes" and "5,000" in platform.value.detail
    # A platform that takes more than Siar holds in memory: Siar's cap and words apply.
    with pytest.raises(PlatformError) as siar:
        await fetch_media(client, item(f"big-{8 * 1024**2 + 1}.mp4"), limit=300_000_000,
                          too_large="Bluesky takes a video of up to 300,000,000 bytes")  # fmt: skip
    assert "larger than Siar uploads (8 MiB)" in siar.value.reason
