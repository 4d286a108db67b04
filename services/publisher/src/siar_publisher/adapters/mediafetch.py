"""Small pieces the X, YouTube, TikTok and Bluesky adapters share: fetching a post's media from
where the library keeps it, reading token expiry from credentials, and polling with a deadline."""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from siar_contracts import ErrorClass, MediaItem

from ..redact import redact_url
from .base import PlatformError, exception_detail, retry_after

_EXTENSION_TYPES = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "webp": "image/webp", "mp4": "video/mp4", "mov": "video/quicktime", "m4v": "video/mp4",
    "webm": "video/webm",
}  # fmt: skip


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    name: str


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
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    return None


MAX_MEDIA_BYTES = 200 * 1024**2
"""The largest media file Siar downloads to upload (200 MiB): it is held in memory while it goes
to the platform — twice, for a moment, as the download is turned into the body — so a link to
something larger (a whole recording, a disk image) must not take the publisher down (its memory
limit is 512 MiB in deploy/k8s). Larger than any platform's image limit and than a library's
usual video; a longer X, YouTube or TikTok video is refused with this reason rather than sent."""

ERROR_BODY_BYTES = 64 * 1024
"""How much of a refusal's body is read (only its first words go into the reason)."""


MEDIA_MEMORY_BYTES = 256 * 1024**2
"""How much media one publisher process holds at once, downloading or waiting to be uploaded.
The same video sent to YouTube, TikTok and X is fetched three times; at once, three 150 MB
copies (and the moment's second copy of each) would not fit the publisher's memory. A fetch
whose file does not fit waits until an upload holding media is done; one file is always let
through, however large (up to :data:`MAX_MEDIA_BYTES`)."""


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
        self.held = max(0, self.held - size)
        while self._waiting:  # every waiter looks again; those that still do not fit wait again
            waiter = self._waiting.popleft()
            if not waiter.done():
                try:
                    waiter.set_result(None)
                except RuntimeError:  # its event loop is gone (a test's): nobody waits on it
                    pass


BUDGET = MediaBudget(MEDIA_MEMORY_BYTES)


class _TooLarge(Exception):
    pass


async def _download(client: httpx.AsyncClient, url: str, limit: int) -> tuple[httpx.Response, bytes, int]:
    """GET ``url``, reading at most ``limit`` bytes (the declared length is checked first); the
    bytes taken from :data:`BUDGET` for the body come back too (the caller holds them)."""
    async with client.stream("GET", url, follow_redirects=True) as response:
        if response.status_code != 200:
            head = bytearray()
            async for chunk in response.aiter_bytes():
                head += chunk
                if len(head) >= ERROR_BODY_BYTES:
                    break
            return response, bytes(head[:ERROR_BODY_BYTES]), 0
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge(int(declared))
        taken = int(declared) if declared.isdigit() else limit
        await BUDGET.take(taken)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise _TooLarge(len(body))
            data = bytes(body)
        except BaseException:
            BUDGET.give(taken)
            raise
        if taken > len(data):  # a length not declared (or content decoded smaller)
            BUDGET.give(taken - len(data))
            taken = len(data)
        return response, data, taken


def _size(limit: int) -> str:
    return f"{limit // 1024**2:,} MiB" if limit % 1024**2 == 0 else f"{limit:,} bytes"


async def fetch_media(client: httpx.AsyncClient, media: MediaItem, *, limit: int = MAX_MEDIA_BYTES,
                      too_large: str | None = None) -> Fetched:  # fmt: skip
    """The media's bytes from the library's media host (not the platform). A host that cannot be
    reached or answers 5xx/429 is transient; any other refusal, or a file above ``limit`` bytes
    (a platform's own limit, said in ``too_large``), means the post cannot be made as it is."""
    where = redact_url(media.url)  # for the reasons: a signed URL's signature stays out of them
    if limit > MAX_MEDIA_BYTES:  # a platform that takes more than Siar holds in memory (Bluesky video)
        limit, too_large = MAX_MEDIA_BYTES, None
    try:
        source, data, held = await _download(client, media.url, limit)
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
    name = media.url.rsplit("/", 1)[-1].split("?", 1)[0] or "media"
    declared = (source.headers.get("content-type") or "").split(";")[0].strip().lower()
    content_type = (
        media.mime_type
        or sniff(data)
        or (declared if declared and declared != "application/octet-stream" else None)
        or _EXTENSION_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
    )
    fetched = Fetched(data, content_type, name)
    # Held until the adapter lets go of the file (its upload done or failed): then the room
    # goes back to the fetches waiting for it.
    weakref.finalize(fetched, BUDGET.give, held)
    return fetched


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
