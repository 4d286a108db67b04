"""Small pieces the adapters share: fetching a post's media from where the library keeps it (into
memory for a platform that takes a file whole, onto disk for one that takes it in chunks),
reading token expiry from credentials, and polling with a deadline."""

from __future__ import annotations

import asyncio
import os
import tempfile
import weakref
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Protocol

import httpx
from siar_contracts import ErrorClass, MediaItem
from siar_runtime.egress import Refused

from ..redact import redact_url
from ..transport import MEDIA, STREAM
from .base import PlatformError, exception_detail, retry_after

_EXTENSION_TYPES = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "webp": "image/webp", "mp4": "video/mp4", "mov": "video/quicktime", "m4v": "video/mp4",
    "webm": "video/webm",
}  # fmt: skip


@dataclass(frozen=True)
class Fetched:
    """A media file held in memory (:func:`fetch_media`)."""

    data: bytes
    content_type: str
    name: str

    @property
    def size(self) -> int:
        return len(self.data)

    async def read(self, start: int, end: int) -> bytes:
        return self.data[start:end]

    async def aclose(self) -> None:
        """Nothing to close: the memory goes back when the adapter lets go of the file."""

    async def __aenter__(self) -> Fetched:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Spooled:
    """A media file downloaded to the publisher's disk (:func:`fetch_media_file`), read a chunk
    at a time by the adapters that upload in chunks (YouTube, TikTok, X) or stream the body
    (Bluesky's videos), so a long video never sits in memory. The file has no name on disk (it
    goes when closed, or with the process). The adapter closes it once the bytes are sent
    (``async with``): before waiting for the platform to process them, and on any failure; a
    file it forgets is closed when it is collected."""

    def __init__(self, file: BinaryIO, size: int, content_type: str, name: str, held: int) -> None:
        self._fd = file.fileno()
        self.size, self.content_type, self.name = size, content_type, name
        self._closed = weakref.finalize(self, _let_go, file, DISK, held)

    async def read(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive), read in a worker thread."""
        if not self._closed.alive:
            raise ValueError("the media file is closed")
        return await asyncio.to_thread(_pread, self._fd, start, min(end, self.size))

    async def chunks(self, size: int = 1024**2) -> AsyncIterator[bytes]:
        """The whole file, ``size`` bytes at a time: a request body sent as it is read (with
        its Content-Length set and the request marked ``transport.STREAM``)."""
        for start in range(0, self.size, size):
            yield await self.read(start, start + size)

    async def aclose(self) -> None:
        """Close the file (in a worker thread: freeing gigabytes of disk takes a moment) and give
        its room back. Closing twice does nothing."""
        detached = self._closed.detach()
        if detached is not None:
            _, _, (file, budget, held), _ = detached
            await asyncio.to_thread(file.close)
            budget.give(held)

    async def __aenter__(self) -> Spooled:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _pread(fd: int, start: int, end: int) -> bytes:
    parts: list[bytes] = []
    while start < end:
        part = os.pread(fd, end - start, start)
        if not part:
            raise OSError(f"the media file ended at byte {start:,} of {end:,}")
        parts.append(part)
        start += len(part)
    return b"".join(parts)


def _let_go(file: BinaryIO, budget: MediaBudget, held: int) -> None:
    """A Spooled the adapter forgot, collected: its file closed, its room given back."""
    file.close()
    budget.give(held)


MediaSource = Fetched | Spooled
"""What a chunked upload reads from: ``size``, ``content_type``, ``name`` and ``await read(a, b)``."""


_FTYP_BRANDS = {
    b"qt  ": "video/quicktime", b"heic": "image/heic", b"heix": "image/heic", b"heim": "image/heic",
    b"heis": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif", b"hevc": "image/heic",
    b"avif": "image/avif", b"avis": "image/avif", b"M4A ": "audio/mp4", b"M4B ": "audio/mp4",
}  # fmt: skip


def sniff(data: bytes) -> str | None:
    """The MIME type from the file's first bytes, for the formats platforms take."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":  # ISO base media: the brand says which (a phone's photo is one too)
        return _FTYP_BRANDS.get(data[8:12], "video/mp4")
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    return None


MAX_MEDIA_BYTES = 200 * 1024**2
"""The largest media file Siar holds in memory to upload (200 MiB): files for Mastodon, Telegram
and LinkedIn, and Bluesky's images, are held while they go — twice, for a moment, as the download is
turned into the body — so a link to something larger must not take the publisher down (its
memory limit is 512 MiB in deploy/k8s). Larger than any of those platforms' own limits. Files
for YouTube, TikTok and X (sent in chunks) and Bluesky's videos (streamed) are downloaded to disk
instead (:func:`fetch_media_file`), up to :data:`MAX_SPOOLED_BYTES`."""

ERROR_BODY_BYTES = 64 * 1024
"""How much of a refusal's body is read (only its first words go into the reason)."""


MEDIA_MEMORY_BYTES = 256 * 1024**2
"""How much media one publisher process holds in memory at once, downloading or waiting to be
uploaded. The same video sent to three platforms is fetched three times; at once, three 150 MB
copies (and the moment's second copy of each) would not fit the publisher's memory. A fetch
whose file does not fit waits until an upload holding media is done; one file is always let
through, however large (up to :data:`MAX_MEDIA_BYTES`)."""

MAX_SPOOLED_BYTES = 4 * 1024**3
"""The largest file Siar downloads to disk to upload (YouTube, TikTok, X; Bluesky's videos): 4 GiB
by default, TikTok's own limit (SIAR_MEDIA_MAX_BYTES; :func:`configure`)."""

MEDIA_DISK_BYTES = 8 * 1024**3
"""How much downloaded media one publisher keeps on disk at once (SIAR_MEDIA_DISK_BYTES); a
download that does not fit waits, as in memory, and one file is always let through."""

MEDIA_DIR: str | None = None
"""Where downloaded media is kept while it uploads (SIAR_MEDIA_DIR; None: the system's temporary
directory, TMPDIR)."""


class MediaBudget:
    """Bytes of media held, and the fetches waiting for room (one event loop: the service's)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.held = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def take(self, size: int) -> None:
        while self.held and self.held + size > self.total:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
        self.held += size

    def give(self, size: int) -> None:
        """Room back; from any thread (a file forgotten by an adapter is let go wherever the
        garbage collector runs), so the waiters are woken through their event loop."""
        self.held = max(0, self.held - size)
        while self._waiting:  # every waiter looks again; those that still do not fit wait again
            waiter = self._waiting.popleft()
            try:
                waiter.get_loop().call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # its event loop is gone (a test's): nobody waits on it
                pass


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


BUDGET = MediaBudget(MEDIA_MEMORY_BYTES)
DISK = MediaBudget(MEDIA_DISK_BYTES)


def configure(*, max_bytes: int, disk_bytes: int, directory: str | None) -> None:
    """The publisher's settings for media downloaded to disk (siar_publisher.settings)."""
    global MAX_SPOOLED_BYTES, MEDIA_DIR
    MAX_SPOOLED_BYTES, MEDIA_DIR = max_bytes, directory or None
    DISK.total = disk_bytes


class _TooLarge(Exception):
    pass


class _Sink(Protocol):
    async def write(self, chunk: bytes) -> None: ...


class _Memory:
    def __init__(self) -> None:
        self.body = bytearray()

    async def write(self, chunk: bytes) -> None:
        self.body += chunk


class _Disk:
    """Writes to ``file`` a megabyte at a time, in a worker thread; keeps the first bytes (for
    sniffing the type)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.head = b""
        self._buffer = bytearray()

    async def write(self, chunk: bytes) -> None:
        if len(self.head) < 64:
            self.head = (self.head + chunk)[:64]
        self._buffer += chunk
        if len(self._buffer) >= 1024**2:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            await asyncio.to_thread(self.file.write, data)
        await asyncio.to_thread(self.file.flush)


class _Held:
    """The room a download took from its budget, until it is handed over with the file (or
    given back by the caller's ``finally``, whatever ended the download: an error, a refusal,
    a cancellation)."""

    def __init__(self, budget: MediaBudget) -> None:
        self.budget, self.bytes = budget, 0

    async def take(self, size: int) -> None:
        await self.budget.take(size)
        self.bytes += size  # no await between the two: a cancellation cannot fall in between

    def grow(self, size: int) -> None:
        """More than taken (compressed after all, or longer than declared): it counts, at once."""
        self.budget.held += size
        self.bytes += size

    def give(self, size: int | None = None) -> None:
        size = self.bytes if size is None else size
        if size:
            self.bytes -= size
            self.budget.give(size)


async def _download(client: httpx.AsyncClient, url: str, limit: int, held: _Held, sink: _Sink
                    ) -> tuple[httpx.Response, bytes]:  # fmt: skip
    """GET ``url`` into ``sink``, reading at most ``limit`` bytes (the declared length is checked
    first), the room it takes in ``held``. Returns the response and the first bytes of a
    refusal's body (empty on 200)."""
    # As it comes (STREAM: the publisher's transport reads other answers whole), and not
    # compressed: the declared length is then the size the file takes.
    async with client.stream("GET", url, follow_redirects=True, headers={"Accept-Encoding": "identity"},
                             extensions={STREAM: True, MEDIA: True}) as response:  # fmt: skip
        if response.status_code != 200:
            head = bytearray()
            async for chunk in response.aiter_bytes():
                head += chunk
                if len(head) >= ERROR_BODY_BYTES:
                    break
            return response, bytes(head[:ERROR_BODY_BYTES])
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge(int(declared))
        await held.take(int(declared) if declared.isdigit() else limit)
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise _TooLarge(size)
            if size > held.bytes:
                held.grow(size - held.bytes)
            await sink.write(chunk)
        if held.bytes > size:  # a length not declared (or content decoded smaller)
            held.give(held.bytes - size)
        return response, b""


def _size(limit: int) -> str:
    for unit, name in ((1024**3, "GiB"), (1024**2, "MiB")):
        if limit % unit == 0:
            return f"{limit // unit:,} {name}"
    return f"{limit:,} bytes"


async def _fetch(client: httpx.AsyncClient, media: MediaItem, limit: int, too_large: str | None,
                 held: _Held, sink: _Sink) -> httpx.Response:  # fmt: skip
    """Download into ``sink``, every failure turned into the PlatformError it means."""
    where = redact_url(media.url)  # for the reasons: a signed URL's signature stays out of them
    try:
        source, _ = await _download(client, media.url, limit, held, sink)
    except Refused as exc:  # a link to this machine, the cloud's metadata, the library's own network
        raise PlatformError(ErrorClass.INVALID_CONTENT, f"the media link {where} {exc}") from None
    except _TooLarge as exc:
        reason = too_large or f"the media at {where} is larger than Siar uploads ({_size(limit)}); link a smaller file"
        raise PlatformError(ErrorClass.INVALID_CONTENT, reason, detail=f"at least {exc.args[0]:,} bytes") from exc
    except httpx.HTTPError as exc:
        raise PlatformError(ErrorClass.TRANSIENT,
                            f"could not download the media at {where}; Siar will try again",
                            detail=exception_detail(exc)) from exc
    status = source.status_code
    if status != 200:
        detail = f"HTTP {status} from {where}"
        if status in (408, 425, 429) or status >= 500:
            raise PlatformError(ErrorClass.TRANSIENT,
                                f"the server holding the media at {where} had a problem; Siar will try again",
                                detail=detail, retry_at=retry_after(source.headers) if status == 429 else None)
        raise PlatformError(ErrorClass.INVALID_CONTENT,
                            f"could not fetch the media at {where} (HTTP {status})", detail=detail)
    return source


def _described(media: MediaItem, source: httpx.Response, head: bytes) -> tuple[str, str]:
    """(content type, file name): the one the post gives, else sniffed, else the host's, else by extension."""
    name = media.url.rsplit("/", 1)[-1].split("?", 1)[0] or "media"
    declared = (source.headers.get("content-type") or "").split(";")[0].strip().lower()
    content_type = (
        media.mime_type
        or sniff(head)
        or (declared if declared and declared != "application/octet-stream" else None)
        or _EXTENSION_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
    )
    return content_type, name


async def fetch_media(client: httpx.AsyncClient, media: MediaItem, *, limit: int = MAX_MEDIA_BYTES,
                      too_large: str | None = None) -> Fetched:  # fmt: skip
    """The media's bytes, in memory, from the library's media host (not the platform). A host
    that cannot be reached or answers 5xx/429 is transient; any other refusal, or a file above
    ``limit`` bytes (a platform's own limit, said in ``too_large``), means the post cannot be
    made as it is."""
    if limit > MAX_MEDIA_BYTES:  # a platform that takes more than Siar holds in memory (Bluesky video)
        limit, too_large = MAX_MEDIA_BYTES, None
    held = _Held(BUDGET)
    try:
        sink = _Memory()
        source = await _fetch(client, media, limit, too_large, held, sink)
        data = bytes(sink.body)
        del sink
        fetched = Fetched(data, *_described(media, source, data))
        # Held until the adapter lets go of the file (its upload done or failed): then the room
        # goes back to the fetches waiting for it.
        weakref.finalize(fetched, BUDGET.give, held.bytes)
        held.bytes = 0  # handed over
        return fetched
    finally:
        held.give()


async def fetch_media_file(client: httpx.AsyncClient, media: MediaItem, *, limit: int | None = None,
                           too_large: str | None = None) -> Spooled:  # fmt: skip
    """The media downloaded to the publisher's disk (:data:`MEDIA_DIR`), for an upload in chunks
    or streamed; refused as :func:`fetch_media` refuses, above ``limit`` (a platform's own,
    said in ``too_large``) or :data:`MAX_SPOOLED_BYTES`. A disk that cannot take it (full, not
    writable) is transient: the operator's to mend, and the post waits. The caller closes it
    (``async with``)."""
    if limit is None or limit > MAX_SPOOLED_BYTES:
        limit, too_large = MAX_SPOOLED_BYTES, None
    try:
        file = tempfile.TemporaryFile(dir=MEDIA_DIR)  # noqa: SIM115 (the Spooled closes it)
    except OSError as exc:
        raise _no_room(exc) from exc
    held = _Held(DISK)
    spooled: Spooled | None = None
    try:
        sink = _Disk(file)
        try:
            source = await _fetch(client, media, limit, too_large, held, sink)
            await sink.flush()
            size = file.tell()
        except OSError as exc:  # writing to the disk
            raise _no_room(exc) from exc
        spooled = Spooled(file, size, *_described(media, source, sink.head), held=held.bytes)
        held.bytes = 0  # handed over with the file
        return spooled
    finally:
        if spooled is None:  # refused, failed or cancelled: nothing is kept
            file.close()
        held.give()


def _no_room(exc: OSError) -> PlatformError:
    return PlatformError(ErrorClass.TRANSIENT, "the publisher could not keep the media on its disk "
                         "(SIAR_MEDIA_DIR); Siar will try again", detail=exception_detail(exc))  # fmt: skip


def parse_time(value: Any) -> datetime | None:
    """An expiry kept in credentials: ISO 8601 or epoch seconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def expiry_from(credentials: Mapping[str, Any], lifetime_if_refreshable: bool = True) -> datetime | None:
    """When the access token ends, from ``expires_at`` in the credentials. A refreshable token
    whose expiry was not given counts as ending now, so the refresher renews it at once and
    learns the real expiry from the platform."""
    found = parse_time(credentials.get("expires_at"))
    if found is not None:
        return found
    if lifetime_if_refreshable and credentials.get("refresh_token"):
        return datetime.now(UTC)
    return None


def in_seconds(seconds: Any) -> datetime | None:
    try:
        return datetime.now(UTC) + timedelta(seconds=float(seconds))
    except (TypeError, ValueError):
        return None


class Deadline:
    """Polling with a time limit: ``await deadline.sleep(seconds)`` is False once time is up."""

    def __init__(self, seconds: float) -> None:
        self.until = asyncio.get_running_loop().time() + seconds

    def left(self) -> float:
        return self.until - asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> bool:
        left = self.left()
        if left <= 0:
            return False
        await asyncio.sleep(max(0.0, min(seconds, left)))
        return True
