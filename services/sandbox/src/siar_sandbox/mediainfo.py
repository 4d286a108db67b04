"""Just enough about uploaded files to answer like the platforms do: the MIME type, the media
kind and the pixel size read from the file header (PNG, GIF, JPEG, WebP; MP4/QuickTime when
``moov`` comes before the media data, from the first video track's ``tkhd``)."""

from __future__ import annotations

import mimetypes
import struct

_EXTRA_TYPES = {
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".m4a": "audio/mp4",
}

DEFAULT_SIZE = (1280, 720)


def guess_mime(declared: str | None, filename: str | None, head: bytes = b"") -> str:
    """The MIME type: from the file's magic bytes, else the declared type, else the name."""
    sniffed = sniff_mime(head)
    if sniffed:
        return sniffed
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    if filename:
        dot = filename.rfind(".")
        if dot >= 0:
            ext = filename[dot:].lower()
            if ext in _EXTRA_TYPES:
                return _EXTRA_TYPES[ext]
            guessed, _ = mimetypes.guess_type("x" + ext)
            if guessed:
                return guessed
    return declared or "application/octet-stream"


def sniff_mime(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"qt  ",):
            return "video/quicktime"
        if brand in (b"heic", b"heix", b"mif1"):
            return "image/heic"
        if brand == b"avif":
            return "image/avif"
        return "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    return None


def kind_of(mime: str) -> str:
    """Mastodon's attachment type for a MIME type."""
    if mime == "image/gif":
        return "gifv"
    major = mime.split("/", 1)[0]
    if major == "image":
        return "image"
    if major == "video":
        return "video"
    if major == "audio":
        return "audio"
    return "unknown"


def image_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from an image header, or None when the header is not understood."""
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
            width, height = struct.unpack(">II", head[16:24])
            return width, height
        if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
            width, height = struct.unpack("<HH", head[6:10])
            return width, height
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            chunk = head[12:16]
            if chunk == b"VP8X" and len(head) >= 30:
                width = 1 + int.from_bytes(head[24:27], "little")
                height = 1 + int.from_bytes(head[27:30], "little")
                return width, height
            if chunk == b"VP8 " and len(head) >= 30:
                width, height = struct.unpack("<HH", head[26:30])
                return width & 0x3FFF, height & 0x3FFF
            if chunk == b"VP8L" and len(head) >= 25:
                bits = int.from_bytes(head[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if head.startswith(b"\xff\xd8"):
            return _jpeg_size(head)
    except (struct.error, IndexError):
        return None
    return None


_CONTAINERS = {b"moov", b"trak"}


def video_size(head: bytes) -> tuple[int, int] | None:
    """Width and height of the first track with a picture, from an ISO BMFF (MP4) header."""
    return _boxes_size(head, 0, len(head))


def _boxes_size(data: bytes, start: int, end: int) -> tuple[int, int] | None:
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        header = 8
        if size == 1 and i + 16 <= end:
            size, header = struct.unpack(">Q", data[i + 8 : i + 16])[0], 16
        elif size == 0:
            size = end - i
        if size < header:
            return None
        stop = min(end, i + size)
        if kind in _CONTAINERS:
            found = _boxes_size(data, i + header, stop)
            if found is not None:
                return found
        elif kind == b"tkhd" and i + header + 4 <= stop:
            version = data[i + header]
            offset = i + header + (88 if version == 1 else 76)
            if offset + 8 <= stop:
                width, height = struct.unpack(">II", data[offset : offset + 8])
                if width >> 16 and height >> 16:
                    return width >> 16, height >> 16
        i += size
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def fit_within(width: int, height: int, box: int) -> tuple[int, int]:
    """Scale (width, height) down so the longer side is at most ``box``."""
    longest = max(width, height)
    if longest <= box:
        return width, height
    scale = box / longest
    return max(1, round(width * scale)), max(1, round(height * scale))
