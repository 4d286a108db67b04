"""Fetching a post's media from the library's media host: what comes back, and what is refused
(a real Starlette host served by uvicorn on a real port: in-process, httpx's ASGI transport would
read a whole streamed body before answering, hiding whether the download stops early)."""

from __future__ import annotations

import asyncio
import gc
import os
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from siar_contracts import ErrorClass, MediaItem
from siar_publisher.adapters import PlatformError, mediafetch
from siar_publisher.adapters.mediafetch import MAX_MEDIA_BYTES, fetch_media, fetch_media_file, sniff
from siar_publisher.transport import http_client
from siar_runtime.egress import Egress, networks
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from services.publisher.tests.socket_kit import served

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


def counted_bytes(size: int) -> bytes:
    return (bytes(range(251)) * (size // 251 + 1))[:size]


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
    if name.startswith("counted-"):  # bytes 0..250 over and over, no Content-Length
        size = int(name.removeprefix("counted-").removesuffix(".mp4"))

        async def counted():  # made as it goes: this host is in the test's process, under tracemalloc
            pattern = bytes(range(251)) * 263
            for start in range(0, size, 65536):
                yield pattern[start % 251 : start % 251 + min(65536, size - start)]

        return StreamingResponse(counted(), media_type="video/mp4")
    if name.startswith("big-"):
        return Response(b"\x00" * int(name.removeprefix("big-").removesuffix(".mp4")), media_type="video/mp4")
    return Response(b"not here", status_code=404)


@pytest.fixture(scope="module")
async def host() -> AsyncIterator[str]:
    async with served(Starlette(routes=[Route("/{name}", file)])) as url:
        yield url


@pytest.fixture
async def client(host):
    """The publisher's own client (its aiohttp transport reads other answers whole: media must
    come through it as a stream)."""
    async with http_client(timeout_seconds=10, base_url=host) as c:
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


# --------------------------------------------------------------------------- to disk, for chunked uploads


def open_in(directory) -> int:
    """How many of this process's open files lie in ``directory`` (a nameless file shows there
    as ``…/#123 (deleted)``)."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += os.readlink(f"/proc/self/fd/{fd}").startswith(str(directory))
        except OSError:
            pass
    return found


@pytest.fixture
def disk(monkeypatch, tmp_path) -> mediafetch.MediaBudget:
    """Media kept in ``tmp_path``, with budgets of this test's own; memory takes at most 64 KiB."""
    budget = mediafetch.MediaBudget(64 * 1024**2)
    monkeypatch.setattr(mediafetch, "DISK", budget)
    monkeypatch.setattr(mediafetch, "BUDGET", mediafetch.MediaBudget(64 * 1024**2))
    monkeypatch.setattr(mediafetch, "MAX_MEDIA_BYTES", 64 * 1024)
    monkeypatch.setattr(mediafetch, "MEDIA_DIR", str(tmp_path))
    return budget


async def test_a_video_for_a_chunked_upload_goes_to_disk_and_is_read_back_in_ranges(client, disk, tmp_path):
    size = 8 * 1024**2 + 123  # far above what memory takes here (64 KiB)
    tracemalloc.start()
    try:
        spooled = await fetch_media_file(client, item(f"counted-{size}.mp4"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 1024**2, peak  # a megabyte's buffer at a time, not the 8 MiB file
    assert spooled.size == size and spooled.content_type == "video/mp4" and spooled.name == f"counted-{size}.mp4"
    assert disk.held == size and mediafetch.BUDGET.held == 0  # disk, not memory
    assert os.listdir(tmp_path) == [] and open_in(tmp_path) == 1  # there, and nameless
    expected = counted_bytes(size)
    for start, end in ((0, 10), (4 * 1024**2 - 5, 4 * 1024**2 + 5), (size - 100, size), (size - 3, size + 50)):
        assert await spooled.read(start, end) == expected[start:end]
    whole = b"".join([await spooled.read(a, a + 3 * 1024**2) for a in range(0, size, 3 * 1024**2)])
    assert whole == expected
    del spooled  # the upload is done: the file goes, and its room comes back
    gc.collect()
    assert disk.held == 0 and open_in(tmp_path) == 0


async def test_a_video_above_the_disk_limit_is_refused_and_leaves_nothing(client, disk, tmp_path, monkeypatch):
    monkeypatch.setattr(mediafetch, "MAX_SPOOLED_BYTES", 2 * 1024**2)
    declared = await refused_with(fetch_media_file(client, item(f"big-{3 * 1024**2}.mp4")))
    assert "larger than Siar uploads (2 MiB)" in declared.reason and "3,145,728" in declared.detail
    streamed = await refused_with(fetch_media_file(client, item(f"counted-{64 * 1024**2}.mp4")))
    assert "larger than Siar uploads (2 MiB)" in streamed.reason
    gc.collect()
    assert disk.held == 0 and open_in(tmp_path) == 0 and os.listdir(tmp_path) == []
    assert mediafetch._size(4 * 1024**3) == "4 GiB" and mediafetch._size(1000) == "1,000 bytes"


async def test_a_disk_that_cannot_keep_the_media_is_transient(client, disk, tmp_path, monkeypatch):
    monkeypatch.setattr(mediafetch, "MEDIA_DIR", str(tmp_path / "not-there"))
    error = await refused_with(fetch_media_file(client, item("counted-1000.mp4")), ErrorClass.TRANSIENT)
    assert "could not keep the media on its disk (SIAR_MEDIA_DIR)" in error.reason and "not-there" in error.detail
    assert disk.held == 0


async def test_downloads_to_disk_wait_for_room_as_in_memory(client, disk):
    disk.total = 300_000
    first = await fetch_media_file(client, item("big-200000.mp4"))
    second = asyncio.create_task(fetch_media_file(client, item("big-150000.mp4")))
    await asyncio.sleep(0.3)
    assert not second.done() and disk.held == 200_000
    del first
    gc.collect()
    assert (await asyncio.wait_for(second, 5)).size == 150_000


def test_the_publishers_settings_set_the_disk_limits(monkeypatch, tmp_path):
    from pydantic import ValidationError
    from siar_publisher.settings import PublisherSettings

    monkeypatch.setattr(mediafetch, "DISK", mediafetch.MediaBudget(1))
    monkeypatch.setattr(mediafetch, "MAX_SPOOLED_BYTES", 1)
    monkeypatch.setattr(mediafetch, "MEDIA_DIR", None)
    monkeypatch.setenv("SIAR_MEDIA_MAX_BYTES", str(512 * 1024**2))
    monkeypatch.setenv("SIAR_MEDIA_DIR", str(tmp_path))
    settings = PublisherSettings()
    assert settings.media_disk_bytes == 8 * 1024**3 and mediafetch.MAX_SPOOLED_BYTES == 1
    mediafetch.configure(max_bytes=settings.media_max_bytes, disk_bytes=settings.media_disk_bytes,
                         directory=settings.media_dir)  # fmt: skip  (as the app starts)
    assert (mediafetch.MAX_SPOOLED_BYTES, mediafetch.DISK.total, mediafetch.MEDIA_DIR) == (
        512 * 1024**2, 8 * 1024**3, str(tmp_path))
    # A directory that is not there is found at start, not at the first video.
    monkeypatch.setenv("SIAR_MEDIA_DIR", str(tmp_path / "not-there"))
    with pytest.raises(ValidationError, match="SIAR_MEDIA_DIR .* is not a directory the publisher can write to"):
        PublisherSettings()


async def test_a_cancelled_download_keeps_nothing(client, disk, tmp_path):
    # An attempt is cancelled when its delivery's lease is lost: the room and the file go back.
    task = asyncio.create_task(fetch_media_file(client, item(f"counted-{64 * 1024**2}.mp4")))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if disk.held:
            break
    assert disk.held and open_in(tmp_path) == 1  # under way (no length declared: the cap is taken)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert disk.held == 0 and open_in(tmp_path) == 0


async def test_closing_gives_the_room_back_at_once_without_the_garbage_collector(client, disk, tmp_path):
    # An adapter closes the file when its bytes are sent, or when its upload fails: a failure's
    # traceback keeps the adapter's frame, and the file with it, until a collection.
    gc.disable()
    try:
        async with await fetch_media_file(client, item("counted-300000.mp4")) as spooled:
            assert disk.held == 300_000
            kept = [spooled]  # still referenced, as a traceback would
        assert disk.held == 0 and open_in(tmp_path) == 0
        await kept[0].aclose()  # twice is nothing
        with pytest.raises(ValueError, match="closed"):
            await kept[0].read(0, 10)
        assert disk.held == 0
    finally:
        gc.enable()


def test_sniffing_tells_a_phones_photo_from_a_video():
    def ftyp(brand: bytes) -> bytes:
        return b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 12

    assert [sniff(ftyp(b)) for b in (b"isom", b"mp42", b"qt  ", b"heic", b"mif1", b"avif", b"M4A ")] == [
        "video/mp4", "video/mp4", "video/quicktime", "image/heic", "image/heif", "image/avif", "audio/mp4"]


async def refused_with(coro, error_class: ErrorClass = ErrorClass.INVALID_CONTENT) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        await coro
    assert caught.value.error_class is error_class, caught.value
    return caught.value


async def counting_file(request: Request) -> Response:
    ASKED.append(request.url.path)
    if request.url.path == "/away":  # a public-looking link that sends the download inside
        return Response(status_code=302, headers={"Location": request.query_params["to"]})
    return Response(PNG, media_type="image/png")


ASKED: list[str] = []


@pytest.fixture
async def guarded_host() -> AsyncIterator[str]:
    ASKED.clear()
    async with served(Starlette(routes=[Route("/{name}", counting_file)])) as url:
        yield url


async def test_a_media_link_to_this_machine_or_a_private_network_is_not_fetched(guarded_host):
    """The publisher's own client, as the service builds it: nothing private unless allowed."""
    port = guarded_host.rsplit(":", 1)[1]
    async with http_client(timeout_seconds=5, egress=Egress()) as strict:
        for url, said in ((f"{guarded_host}/poster.png", "127.0.0.1, a loopback address"),  # an address
                          (f"http://localhost:{port}/poster.png", "a loopback address"),  # a name for one
                          ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a link-local address"),
                          ("http://[::ffff:10.0.0.7]/a.png", "10.0.0.7, a private network address"),
                          (f"http://2130706433:{port}/poster.png", "127.0.0.1, a loopback address"),  # a number
                          (f"http://127.1:{port}/poster.png", "127.0.0.1, a loopback address")):
            with pytest.raises(PlatformError) as caught:
                await fetch_media(strict, MediaItem(url=url, kind="image"))
            assert caught.value.error_class is ErrorClass.INVALID_CONTENT, url  # not retried: it will not change
            assert said in caught.value.reason and "SIAR_ALLOWED_PRIVATE_ADDRESSES" in caught.value.reason, url
    assert ASKED == []  # refused before a connection was made
    # Allowed, the library's own media host is fetched; a redirect from it is checked again.
    allowed = Egress(networks("127.0.0.1/32"))
    async with http_client(timeout_seconds=5, egress=allowed) as client:
        fetched = await fetch_media(client, MediaItem(url=f"{guarded_host}/poster.png", kind="image"))
        assert fetched.data == PNG
        with pytest.raises(PlatformError) as caught:
            await fetch_media(client, MediaItem(url=f"{guarded_host}/away?to=http://127.0.0.2:{port}/poster.png",
                                                kind="image"))
        assert "127.0.0.2, a loopback address" in caught.value.reason
        # The platform calls on the same client are not media links: the sandbox on loopback answers.
        assert (await client.get(f"{guarded_host}/api")).status_code == 200
    assert ASKED == ["/poster.png", "/away", "/api"]
