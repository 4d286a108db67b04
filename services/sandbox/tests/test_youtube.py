"""The YouTube Data API imitation over the real app: resumable sessions (308 + Range, status
questions, a connection cut part-way), processing, Google error bodies, quotas, channels,
uploads playlist, statistics and Google's token endpoints."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from siar_sandbox.apikit import ConnectionCut

TOKEN = "perpuskota.ya29"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UPLOAD = "/youtube/upload/youtube/v3/videos"


async def session(client, size: int | None, title: str = "Dongeng", mime: str = "video/mp4", **snippet) -> httpx.Response:
    headers = {**AUTH, "X-Upload-Content-Type": mime}
    if size is not None:
        headers["X-Upload-Content-Length"] = str(size)
    return await client.post(UPLOAD, params={"uploadType": "resumable", "part": "snippet,status"}, headers=headers,
                             json={"snippet": {"title": title, "description": "Untuk anak", **snippet},
                                   "status": {"privacyStatus": "unlisted"}})  # fmt: skip


async def put(client, location: str, data: bytes, content_range: str | None) -> httpx.Response:
    headers = {"Content-Range": content_range} if content_range else {}
    return await client.put(location, content=data, headers=headers)


def error_of(r: httpx.Response) -> tuple[int, str, str]:
    body = r.json()["error"]
    return body["code"], body["errors"][0]["reason"], body["errors"][0]["domain"]


async def test_resumable_upload_in_chunks(client, mp4):
    r = await session(client, len(mp4))
    assert r.status_code == 200 and r.content == b""
    location = r.headers["location"]
    assert location.startswith("http://sandbox/youtube/upload/youtube/v3/videos?") and "upload_id=" in location
    asked = await put(client, location, b"", f"bytes */{len(mp4)}")
    assert asked.status_code == 308 and "range" not in asked.headers  # nothing yet
    r = await put(client, location, mp4[:1000], f"bytes 0-999/{len(mp4)}")
    assert r.status_code == 308 and r.headers["range"] == "bytes=0-999"
    r = await put(client, location, mp4[1000:], f"bytes 1000-{len(mp4) - 1}/{len(mp4)}")
    assert r.status_code == 201
    video = r.json()
    assert video["kind"] == "youtube#video" and len(video["id"]) == 11
    assert video["snippet"]["title"] == "Dongeng" and video["status"]["uploadStatus"] == "uploaded"
    assert video["status"]["privacyStatus"] == "unlisted"
    again = await put(client, location, b"", f"bytes */{len(mp4)}")
    assert again.status_code == 200 and again.json()["id"] == video["id"]  # a finished session answers the video
    [post] = (await client.get("/_sandbox/posts", params={"platform": "youtube"})).json()["posts"]
    assert post["id"] == video["id"] and post["account"] == "@perpuskota" and post["text"] == "Untuk anak"
    assert post["url"] == f"https://www.youtube.com/watch?v={video['id']}"


async def test_an_unverified_api_project_uploads_private_only(client, mp4):
    # Asked for unlisted (or public); YouTube locks an unverified project's upload private.
    headers = {"Authorization": "Bearer unverifiedlib.ya29", "X-Upload-Content-Type": "video/mp4",
               "X-Upload-Content-Length": str(len(mp4))}  # fmt: skip
    r = await client.post(UPLOAD, params={"uploadType": "resumable", "part": "snippet,status"}, headers=headers,
                          json={"snippet": {"title": "Dongeng"}, "status": {"privacyStatus": "public"}})  # fmt: skip
    assert r.status_code == 200
    done = await put(client, r.headers["location"], mp4, f"bytes 0-{len(mp4) - 1}/{len(mp4)}")
    assert done.status_code == 201 and done.json()["status"]["privacyStatus"] == "private"
    listed = await client.get("/youtube/youtube/v3/videos", headers={"Authorization": "Bearer unverifiedlib.ya29"},
                              params={"part": "status", "id": done.json()["id"]})  # fmt: skip
    assert listed.json()["items"][0]["status"]["privacyStatus"] == "private"


async def test_interrupted_upload_keeps_what_arrived(client, mp4):
    location = (await session(client, len(mp4))).headers["location"]
    await client.put("/_sandbox/faults", json={"platform": "youtube", "sequence": ["interrupt"]})
    with pytest.raises(ConnectionCut):
        await put(client, location, mp4, f"bytes 0-{len(mp4) - 1}/{len(mp4)}")
    half = len(mp4) // 2
    asked = await put(client, location, b"", f"bytes */{len(mp4)}")
    assert asked.status_code == 308 and asked.headers["range"] == f"bytes=0-{half - 1}"
    r = await put(client, location, mp4[half:], f"bytes {half}-{len(mp4) - 1}/{len(mp4)}")
    assert r.status_code == 201
    assert (await client.get("/_sandbox/stats")).json()["faults_injected"]["youtube"] == {"interrupt": 1}


async def test_interrupt_on_a_real_socket(live_server, mp4):
    async with httpx.AsyncClient(base_url=live_server, timeout=5) as client:
        location = (await session(client, len(mp4))).headers["location"]
        await client.put("/_sandbox/faults", json={"platform": "youtube", "sequence": ["interrupt"]})
        with pytest.raises(httpx.RemoteProtocolError):
            await put(client, location, mp4, f"bytes 0-{len(mp4) - 1}/{len(mp4)}")
        asked = await put(client, location, b"", f"bytes */{len(mp4)}")
        assert asked.status_code == 308 and asked.headers["range"] == f"bytes=0-{len(mp4) // 2 - 1}"


async def test_bad_ranges_and_unknown_sessions(client, mp4):
    location = (await session(client, len(mp4))).headers["location"]
    r = await put(client, location, mp4[:10], "bytes 0-9/99")
    assert r.status_code == 400
    r = await put(client, location, mp4[:10], "bytes 0-19/" + str(len(mp4)))
    assert r.status_code == 400
    r = await put(client, location, mp4[:10], "nonsense")
    assert r.status_code == 400
    gap = await put(client, location, mp4[100:110], f"bytes 100-109/{len(mp4)}")
    assert gap.status_code == 308 and "range" not in gap.headers
    r = await client.put(f"{UPLOAD}?upload_id=nope", headers={"Content-Range": "bytes */10"})
    assert r.status_code == 404 and error_of(r)[1] == "notFound"
    whole = await client.put(location, content=mp4)  # no Content-Range: the whole file at once
    assert whole.status_code == 201


async def test_session_validation(client):
    r = await session(client, 100, title="")
    assert error_of(r) == (400, "invalidTitle", "youtube.video")
    r = await session(client, 100, title="a <b>")
    assert error_of(r)[1] == "invalidTitle"
    r = await session(client, 100, categoryId="999")
    assert error_of(r)[1] == "invalidCategoryId"
    r = await session(client, 100, mime="image/png")
    assert error_of(r)[:2] == (400, "badContent")
    r = await client.post(UPLOAD, params={"uploadType": "multipart", "part": "snippet"}, headers=AUTH, json={})
    assert r.status_code == 400
    r = await client.post(UPLOAD, params={"uploadType": "resumable", "part": "snippet"}, json={})
    body = r.json()["error"]
    assert r.status_code == 401 and body["status"] == "UNAUTHENTICATED" and body["errors"][0]["reason"] == "authError"
    r = await client.post(UPLOAD, params={"uploadType": "resumable", "part": "snippet"},
                          headers={"Authorization": "Bearer readonly.ya29"}, json={})  # fmt: skip
    assert error_of(r)[:2] == (403, "insufficientPermissions")


async def test_quota_and_upload_limits(client):
    await client.put("/_sandbox/limits", json={"platform": "youtube", "scope": "quota", "limit": 1, "window_seconds": 86400})
    assert (await session(client, 100)).status_code == 200
    assert error_of(await session(client, 100)) == (403, "quotaExceeded", "youtube.quota")
    await client.delete("/_sandbox/limits")
    await client.put("/_sandbox/limits", json={"platform": "youtube", "scope": "uploads", "limit": 1, "window_seconds": 86400})
    assert (await session(client, 100)).status_code == 200
    assert error_of(await session(client, 100)) == (400, "uploadLimitExceeded", "youtube.video")


async def test_processing_and_statistics(client, mp4, png):
    good = (await session(client, len(mp4))).headers["location"]
    video_id = (await put(client, good, mp4, None)).json()["id"]
    bad = (await session(client, len(png()), title="Bukan video")).headers["location"]
    bad_id = (await put(client, bad, png(), None)).json()["id"]
    params = {"part": "status,processingDetails,statistics", "id": f"{video_id},{bad_id},missing"}
    r = await client.get("/youtube/youtube/v3/videos", params=params, headers=AUTH)
    items = r.json()["items"]
    assert [i["processingDetails"]["processingStatus"] for i in items] == ["processing", "processing"]
    await asyncio.sleep(0.35)
    items = (await client.get("/youtube/youtube/v3/videos", params=params, headers=AUTH)).json()["items"]
    assert items[0]["status"]["uploadStatus"] == "processed"
    assert items[1]["status"] == {**items[1]["status"], "uploadStatus": "failed", "failureReason": "invalidFile"}
    stats = items[0]["statistics"]
    assert set(stats) == {"viewCount", "likeCount", "favoriteCount", "commentCount"}
    assert all(isinstance(v, str) for v in stats.values())
    await client.put("/_sandbox/clock", json={"advance_seconds": 86400})
    later = {"Authorization": "Bearer perpuskota.later"}
    grown = (await client.get("/youtube/youtube/v3/videos", params={"part": "statistics", "id": video_id},
                              headers=later)).json()["items"][0]["statistics"]  # fmt: skip
    assert int(grown["viewCount"]) > int(stats["viewCount"])
    r = await client.get("/youtube/youtube/v3/videos", params={"id": video_id}, headers=later)
    assert r.status_code == 400  # part is required


async def test_channel_and_uploads_playlist(client, mp4):
    r = await client.get("/youtube/youtube/v3/channels", params={"part": "snippet,contentDetails,statistics,status",
                                                                 "mine": "true"}, headers=AUTH)  # fmt: skip
    [channel] = r.json()["items"]
    assert channel["id"].startswith("UC") and channel["snippet"]["customUrl"] == "@perpuskota"
    uploads = channel["contentDetails"]["relatedPlaylists"]["uploads"]
    assert uploads == "UU" + channel["id"][2:] and channel["statistics"]["videoCount"] == "0"
    for n in range(3):
        location = (await session(client, len(mp4), title=f"Video {n}")).headers["location"]
        await put(client, location, mp4, None)
    r = await client.get("/youtube/youtube/v3/playlistItems", params={"part": "snippet", "playlistId": uploads,
                                                                      "maxResults": 2}, headers=AUTH)  # fmt: skip
    page = r.json()
    assert [i["snippet"]["title"] for i in page["items"]] == ["Video 2", "Video 1"]
    assert page["nextPageToken"] and page["pageInfo"]["totalResults"] == 3
    r = await client.get("/youtube/youtube/v3/playlistItems", params={"part": "snippet", "playlistId": "UUnope"},
                         headers=AUTH)  # fmt: skip
    assert error_of(r)[:2] == (404, "playlistNotFound")
    r = await client.get("/youtube/youtube/v3/channels", params={"part": "id", "mine": "true"},
                         headers={"Authorization": "Bearer nochannel.ya29"})  # fmt: skip
    assert r.json()["items"] == []


async def test_google_token_endpoints(client):
    form = {"grant_type": "refresh_token", "refresh_token": "perpuskota.rt", "client_id": "id", "client_secret": "s"}
    r = await client.post("/youtube/token", data=form)
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert (await client.post("/youtube/token", data=form)).status_code == 200  # not rotated
    info = await client.get("/youtube/tokeninfo", params={"access_token": body["access_token"]})
    assert 3590 <= int(info.json()["expires_in"]) <= 3599
    await client.post("/_sandbox/tokens/revoke", json={"platform": "youtube", "token": "perpuskota.rt"})
    r = await client.post("/youtube/token", data=form)
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant",
                                                 "error_description": "Token has been expired or revoked."}
    r = await client.post("/youtube/token", data={**form, "client_secret": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.get("/youtube/tokeninfo", params={"access_token": "revoked.x"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_token"


async def test_faults_on_session_start(client):
    await client.put("/_sandbox/faults", json={"platform": "youtube", "sequence": ["503", "429"],
                                               "retry_after_seconds": 7})  # fmt: skip
    r = await session(client, 10)
    assert error_of(r)[:2] == (503, "backendError")
    r = await session(client, 10)
    assert r.status_code == 429 and r.headers["retry-after"] == "7" and error_of(r)[1] == "rateLimitExceeded"
