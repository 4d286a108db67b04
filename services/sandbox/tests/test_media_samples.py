"""Sample media at /_sandbox/media/<name>: valid files built in memory, and what the imitated
platforms make of them (Mastodon uploads, Telegram sendPhoto/sendVideo/sendMediaGroup by URL)."""

from __future__ import annotations

import asyncio
import struct
import zlib

import httpx
from siar_sandbox.mediainfo import image_size, sniff_mime, video_size

MEDIA = "/_sandbox/media"
MEDIA_V2 = "/mastodon/api/v2/media"
STATUSES = "/mastodon/api/v1/statuses"


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind, body = data[i + 4 : i + 8], data[i + 8 : i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length : i + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        i += 12 + length
    return chunks


def jpeg_segments(data: bytes) -> list[int]:
    """The markers of a baseline JPEG in order, checking lengths and the entropy-coded data."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    markers, i = [0xD8], 2
    while True:
        assert data[i] == 0xFF
        marker = data[i + 1]
        markers.append(marker)
        if marker == 0xD9:
            assert i + 2 == len(data)
            return markers
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        i += 2 + length
        if marker == 0xDA:  # scan data: every 0xFF is stuffed (0xFF00) until EOI
            j = i
            while not (data[j] == 0xFF and data[j + 1] != 0x00):
                j += 2 if data[j] == 0xFF else 1
            assert data[j + 1] == 0xD9
            i = j


def mp4_boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[bytes, tuple[int, int]]:
    """Top-level boxes between start and end: type -> (payload start, payload end)."""
    end = len(data) if end is None else end
    boxes, i = {}, start
    while i < end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        assert size >= 8 and i + size <= end, kind
        boxes[kind] = (i + 8, i + size)
        i += size
    assert i == end
    return boxes


async def test_the_listing_names_every_sample(client):
    r = await client.get(MEDIA)
    assert r.status_code == 200
    listed = {m["name"]: m for m in r.json()["media"]}
    assert set(listed) == {"poster.png", "photo.jpg", "clip.mp4", "loop.gif"}
    assert listed["clip.mp4"]["url"] == "http://sandbox/_sandbox/media/clip.mp4"
    assert listed["clip.mp4"]["content_type"] == "video/mp4"
    assert listed["photo.jpg"]["width"] == 64 and listed["photo.jpg"]["height"] == 48


async def test_poster_png_is_a_valid_png(client):
    r = await client.get(f"{MEDIA}/poster.png")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert int(r.headers["content-length"]) == len(r.content)
    chunks = png_chunks(r.content)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (width, height, depth, colour) == (64, 64, 8, 2)
    pixels = zlib.decompress(chunks[1][1])
    assert len(pixels) == height * (1 + 3 * width)
    assert all(pixels[row * (1 + 3 * width)] == 0 for row in range(height))  # filter bytes
    assert sniff_mime(r.content) == "image/png" and image_size(r.content) == (64, 64)


async def test_photo_jpg_is_a_baseline_jpeg(client):
    r = await client.get(f"{MEDIA}/photo.jpg")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.content[6:11] == b"JFIF\x00"
    assert jpeg_segments(r.content) == [0xD8, 0xE0, 0xDB, 0xC0, 0xC4, 0xDA, 0xD9]
    assert sniff_mime(r.content) == "image/jpeg" and image_size(r.content) == (64, 48)


async def test_clip_mp4_has_a_video_track_of_jpeg_frames(client):
    r = await client.get(f"{MEDIA}/clip.mp4")
    assert r.status_code == 200
    assert r.headers["content-type"] == "video/mp4"
    data = r.content
    top = mp4_boxes(data)
    assert list(top) == [b"ftyp", b"moov", b"mdat"]  # moov first: playable while downloading
    assert data[top[b"ftyp"][0] : top[b"ftyp"][0] + 4] == b"isom"
    moov = mp4_boxes(data, *top[b"moov"])
    assert list(moov) == [b"mvhd", b"trak"]
    mvhd = moov[b"mvhd"][0]
    timescale, duration = struct.unpack(">II", data[mvhd + 12 : mvhd + 20])
    assert duration / timescale == 2.0
    trak = mp4_boxes(data, *moov[b"trak"])
    mdia = mp4_boxes(data, *trak[b"mdia"])
    hdlr = mdia[b"hdlr"][0]
    assert data[hdlr + 8 : hdlr + 12] == b"vide"
    stbl = mp4_boxes(data, *mp4_boxes(data, *mdia[b"minf"])[b"stbl"])
    assert set(stbl) >= {b"stsd", b"stts", b"stsc", b"stsz", b"stco"}
    stsd = stbl[b"stsd"][0]
    assert data[stsd + 12 : stsd + 16] == b"mp4v"
    stsz = stbl[b"stsz"][0]
    _, count = struct.unpack(">II", data[stsz + 4 : stsz + 12])
    sizes = struct.unpack(f">{count}I", data[stsz + 12 : stsz + 12 + 4 * count])
    (offset,) = struct.unpack(">I", data[stbl[b"stco"][0] + 8 : stbl[b"stco"][0] + 12])
    assert offset == top[b"mdat"][0] and sum(sizes) == top[b"mdat"][1] - top[b"mdat"][0]
    for size in sizes:  # every sample is a whole JPEG frame
        assert jpeg_segments(data[offset : offset + size])[2:5] == [0xDB, 0xC0, 0xC4]
        offset += size
    assert count == 4
    assert sniff_mime(data) == "video/mp4" and video_size(data) == (64, 48)


async def test_head_and_unknown_names(client):
    r = await client.head(f"{MEDIA}/clip.mp4")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert int(r.headers["content-length"]) == len((await client.get(f"{MEDIA}/clip.mp4")).content)
    r = await client.get(f"{MEDIA}/nothing.gif")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404 and "nothing.gif" in body["detail"]
    assert "poster.png" in body["detail"]


async def test_served_over_real_http(live_server):
    async with httpx.AsyncClient(base_url=live_server) as http:
        r = await http.get(f"{MEDIA}/photo.jpg")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert image_size(r.content) == (64, 48)
        assert (await http.head(f"{MEDIA}/poster.png")).content == b""


# --------------------------------------------------------------------------- Mastodon uploads


async def test_mastodon_accepts_every_sample(client, auth):
    await client.put("/_sandbox/mastodon/instance", json={"media_processing_seconds": 0.2})
    uploaded = {}
    for name, mime in (
        ("poster.png", "image/png"),
        ("photo.jpg", "image/jpeg"),
        ("clip.mp4", "video/mp4"),
    ):
        data = (await client.get(f"{MEDIA}/{name}")).content
        r = await client.post(MEDIA_V2, headers=auth, files={"file": (name, data, mime)})
        assert r.status_code == (202 if name == "clip.mp4" else 200), r.text
        uploaded[name] = r.json()
    assert uploaded["poster.png"]["meta"]["original"]["size"] == "64x64"
    assert uploaded["photo.jpg"]["type"] == "image"
    assert uploaded["photo.jpg"]["meta"]["original"]["size"] == "64x48"
    video = uploaded["clip.mp4"]
    assert video["type"] == "video" and video["url"] is None
    assert (
        await client.get(f"/mastodon/api/v1/media/{video['id']}", headers=auth)
    ).status_code == 206
    await asyncio.sleep(0.25)
    ready = await client.get(f"/mastodon/api/v1/media/{video['id']}", headers=auth)
    assert ready.status_code == 200
    assert ready.json()["meta"]["original"]["width"] == 64
    assert ready.json()["meta"]["original"]["height"] == 48
    images = [uploaded["poster.png"]["id"], uploaded["photo.jpg"]["id"]]
    for media_ids in (images, [video["id"]]):
        r = await client.post(STATUSES, headers=auth, json={"status": "x", "media_ids": media_ids})
        assert r.status_code == 200, r.text


# --------------------------------------------------------------------------- Telegram by URL


def ok(r) -> dict:
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True
    return r.json()["result"]


def bad(r, description: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json() == {
        "ok": False,
        "error_code": 400,
        "description": f"Bad Request: {description}",
    }


async def test_telegram_takes_sample_urls_without_fetching(client, tg):
    base = "http://sandbox/_sandbox/media"
    poster = (await client.get(f"{MEDIA}/poster.png")).content
    photo = ok(
        await client.post(
            f"{tg}/sendPhoto",
            json={"chat_id": "@perpuskota", "photo": f"{base}/poster.png", "caption": "Poster"},
        )
    )
    assert photo["photo"][-1]["width"] == 64 and photo["photo"][-1]["height"] == 64
    assert photo["photo"][-1]["file_size"] == len(poster)
    jpg = ok(
        await client.post(
            f"{tg}/sendPhoto", json={"chat_id": "@perpuskota", "photo": f"{base}/photo.jpg"}
        )
    )
    assert (jpg["photo"][-1]["width"], jpg["photo"][-1]["height"]) == (64, 48)
    video = ok(
        await client.post(
            f"{tg}/sendVideo", json={"chat_id": "@perpuskota", "video": f"{base}/clip.mp4"}
        )
    )
    assert video["video"]["mime_type"] == "video/mp4"
    assert (video["video"]["width"], video["video"]["height"]) == (64, 48)
    assert video["video"]["duration"] == 2 and video["video"]["file_name"] == "clip.mp4"
    # Any host: the sandbox may be reached under another name than the one in the URL.
    other = ok(
        await client.post(
            f"{tg}/sendPhoto",
            json={
                "chat_id": "@perpuskota",
                "photo": "http://127.0.0.1:8010/_sandbox/media/poster.png",
            },
        )
    )
    assert other["photo"][-1]["width"] == 64
    group = ok(
        await client.post(
            f"{tg}/sendMediaGroup",
            json={
                "chat_id": "@perpuskota",
                "media": [
                    {"type": "photo", "media": f"{base}/poster.png", "caption": "Dua"},
                    {"type": "photo", "media": f"{base}/photo.jpg"},
                    {"type": "video", "media": f"{base}/clip.mp4"},
                ],
            },
        )
    )
    assert len(group) == 3 and len({m["media_group_id"] for m in group}) == 1
    posts = (await client.get("/_sandbox/posts", params={"platform": "telegram"})).json()["posts"]
    assert posts[0]["media"][0] == {
        "type": "photo",
        "file_id": photo["photo"][-1]["file_id"],
        "source": "url",
        "url": f"{base}/poster.png",
    }
    assert [m["type"] for m in posts[-1]["media"]] == ["photo", "photo", "video"]


async def test_telegram_refuses_missing_or_mistyped_samples(client, tg):
    base = "http://sandbox/_sandbox/media"
    bad(
        await client.post(
            f"{tg}/sendPhoto", json={"chat_id": "@kanal", "photo": f"{base}/missing.png"}
        ),
        "failed to get HTTP URL content",
    )
    bad(
        await client.post(
            f"{tg}/sendVideo", json={"chat_id": "@kanal", "video": f"{base}/gone.mp4"}
        ),
        "failed to get HTTP URL content",
    )
    bad(
        await client.post(
            f"{tg}/sendPhoto", json={"chat_id": "@kanal", "photo": f"{base}/clip.mp4"}
        ),
        "wrong type of the web page content",
    )
    bad(
        await client.post(
            f"{tg}/sendVideo", json={"chat_id": "@kanal", "video": f"{base}/poster.png"}
        ),
        "wrong type of the web page content",
    )
    bad(
        await client.post(
            f"{tg}/sendMediaGroup",
            json={
                "chat_id": "@kanal",
                "media": [
                    {"type": "photo", "media": f"{base}/poster.png"},
                    {"type": "photo", "media": f"{base}/missing.png"},
                ],
            },
        ),
        'failed to send message #2 with the error message "Failed to get HTTP URL content"',
    )
    assert (await client.get("/_sandbox/posts")).json()["count"] == 0


async def test_telegram_accepts_uploaded_samples(client, tg):
    for name, method, field in (
        ("photo.jpg", "sendPhoto", "photo"),
        ("poster.png", "sendPhoto", "photo"),
        ("clip.mp4", "sendVideo", "video"),
    ):
        data = (await client.get(f"{MEDIA}/{name}")).content
        message = ok(
            await client.post(
                f"{tg}/{method}", data={"chat_id": "@kanal"}, files={field: (name, data)}
            )
        )
        if field == "photo":
            assert message["photo"][-1]["file_size"] == len(data)
        else:
            assert message["video"]["mime_type"] == "video/mp4"


async def test_loop_gif_is_a_looping_four_frame_gif89a(client):
    data = (await client.get(f"{MEDIA}/loop.gif")).content
    assert data[:6] == b"GIF89a" and data[-1:] == b"\x3b"
    assert int.from_bytes(data[6:8], "little") == 64 and int.from_bytes(data[8:10], "little") == 48
    assert b"NETSCAPE2.0" in data  # loops
    assert data.count(b"\x21\xf9\x04") == 4  # one graphic control block per frame


async def test_telegram_sends_a_gif_as_an_animation(client, tg):
    base = "http://sandbox/_sandbox/media"
    message = ok(
        await client.post(
            f"{tg}/sendAnimation",
            json={"chat_id": "@perpuskota", "animation": f"{base}/loop.gif", "caption": "Buka!"},
        )
    )
    assert message["animation"]["mime_type"] == "image/gif"
    assert (message["animation"]["width"], message["animation"]["height"]) == (64, 48)
    assert message["animation"]["duration"] == 2 and message["animation"]["file_id"].startswith("CgAC")
    assert message["document"]["file_id"] == message["animation"]["file_id"]  # as the Bot API does
    assert message["caption"] == "Buka!"
    refused = await client.post(
        f"{tg}/sendAnimation", json={"chat_id": "@perpuskota", "animation": f"{base}/photo.jpg"}
    )
    assert refused.status_code == 400 and "wrong type" in refused.json()["description"]

