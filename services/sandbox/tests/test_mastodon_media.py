"""Mastodon media uploads: synchronous images, asynchronously processed video, limits."""

from __future__ import annotations

import asyncio

MEDIA_V2 = "/mastodon/api/v2/media"
STATUSES = "/mastodon/api/v1/statuses"


async def test_image_upload_is_ready_at_once(client, auth, png):
    r = await client.post(
        MEDIA_V2,
        headers=auth,
        files={"file": ("poster.png", png(640, 480), "image/png")},
        data={"description": "Poster acara literasi", "focus": "0.5,-0.25"},
    )
    assert r.status_code == 200, r.text
    media = r.json()
    assert media["type"] == "image"
    assert media["url"].startswith("http://sandbox/mastodon/system/media_attachments/files/")
    assert media["url"].endswith(".png")
    assert media["description"] == "Poster acara literasi"
    assert media["meta"]["original"] == {
        "width": 640,
        "height": 480,
        "size": "640x480",
        "aspect": 640 / 480,
    }
    assert media["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    shown = await client.get(f"/mastodon/api/v1/media/{media['id']}", headers=auth)
    assert shown.status_code == 200
    status = await client.post(
        STATUSES, headers=auth, data={"status": "Dengan gambar", "media_ids[]": [media["id"]]}
    )
    assert status.status_code == 200, status.text
    assert [m["id"] for m in status.json()["media_attachments"]] == [media["id"]]
    # Attached media is no longer reachable through /api/v1/media/:id, and cannot be reused.
    assert (
        await client.get(f"/mastodon/api/v1/media/{media['id']}", headers=auth)
    ).status_code == 404
    again = await client.post(
        STATUSES, headers=auth, json={"status": "lagi", "media_ids": [media["id"]]}
    )
    assert again.status_code == 422
    recorded = (await client.get("/_sandbox/posts")).json()["posts"]
    assert recorded[0]["media"][0]["id"] == media["id"]


async def test_video_is_processed_asynchronously(client, auth, mp4):
    r = await client.post(MEDIA_V2, headers=auth, files={"file": ("clip.mp4", mp4, "video/mp4")})
    assert r.status_code == 202, r.text
    media = r.json()
    assert media["type"] == "video" and media["url"] is None
    polled = await client.get(f"/mastodon/api/v1/media/{media['id']}", headers=auth)
    assert polled.status_code == 206 and polled.json()["url"] is None
    early = await client.post(
        STATUSES, headers=auth, json={"status": "video", "media_ids": [media["id"]]}
    )
    assert early.status_code == 422
    assert early.json() == {
        "error": "Cannot attach files that have not finished processing. Try again in a moment!"
    }
    await asyncio.sleep(0.35)  # media_processing_seconds is 0.3 in these tests
    polled = await client.get(f"/mastodon/api/v1/media/{media['id']}", headers=auth)
    assert polled.status_code == 200 and polled.json()["url"].endswith(".mp4")
    status = await client.post(STATUSES, headers=auth, json={"media_ids": [media["id"]]})
    assert status.status_code == 200  # media without text is fine
    assert status.json()["media_attachments"][0]["type"] == "video"


async def test_v1_media_is_synchronous(client, auth, mp4):
    r = await client.post(
        "/mastodon/api/v1/media", headers=auth, files={"file": ("clip.mp4", mp4, "video/mp4")}
    )
    assert r.status_code == 200 and r.json()["url"] is not None


async def test_media_errors(client, auth, png, mp4):
    r = await client.post(MEDIA_V2, headers=auth, files={"description": (None, "no file")})
    assert r.status_code == 422 and r.json() == {"error": "Validation failed: File can't be blank"}
    r = await client.post(
        MEDIA_V2, headers=auth, files={"file": ("doc.pdf", b"%PDF-1.4 x", "application/pdf")}
    )
    assert r.status_code == 422
    assert r.json() == {"error": "Validation failed: File content type is invalid, File is invalid"}
    big = png(8, 8) + b"\x00" * 10_485_760
    r = await client.post(MEDIA_V2, headers=auth, files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 422
    assert r.json() == {"error": "Validation failed: File file size must be less than 10 MB"}
    await client.put("/_sandbox/mastodon/instance", json={"video_size_limit": 1000})
    r = await client.post(MEDIA_V2, headers=auth, files={"file": ("clip.mp4", mp4, "video/mp4")})
    assert r.status_code == 422
    assert r.json() == {"error": "Validation failed: File file size must be less than 1000 Bytes"}
    assert (
        await client.post(MEDIA_V2, files={"file": ("a.png", png(), "image/png")})
    ).status_code == 401


async def test_images_and_video_do_not_mix(client, auth, png):
    await client.put("/_sandbox/mastodon/instance", json={"media_processing_seconds": 0})
    image = (
        await client.post(MEDIA_V2, headers=auth, files={"file": ("a.png", png(), "image/png")})
    ).json()
    video = (
        await client.post(
            MEDIA_V2,
            headers=auth,
            files={"file": ("v.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(64), "video/mp4")},
        )
    ).json()
    r = await client.post(
        STATUSES, headers=auth, json={"status": "x", "media_ids": [image["id"], video["id"]]}
    )
    assert r.status_code == 422
    assert r.json() == {"error": "Cannot attach a video to a post that already contains images"}


async def test_media_of_another_account_is_not_found(client, auth, png):
    image = (
        await client.post(MEDIA_V2, headers=auth, files={"file": ("a.png", png(), "image/png")})
    ).json()
    other = {"Authorization": "Bearer museum.secret"}
    assert (
        await client.get(f"/mastodon/api/v1/media/{image['id']}", headers=other)
    ).status_code == 404
    r = await client.post(STATUSES, headers=other, json={"status": "x", "media_ids": [image["id"]]})
    assert r.status_code == 422
    r = await client.put(
        f"/mastodon/api/v1/media/{image['id']}", headers=auth, json={"description": "baru"}
    )
    assert r.status_code == 200 and r.json()["description"] == "baru"
