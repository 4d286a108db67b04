"""The TikTok imitation over the real app: creator_info, video init rules, chunked PUTs, the
publish status machine (recorded on completion even if nobody asks), PULL_FROM_URL, TikTok's
``{"data","error"}`` bodies, limits, the Display API and rotating refresh tokens."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from siar_sandbox.apikit import ConnectionCut

TOKEN = "perpuskota.act"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MB = 1024 * 1024


async def init(client, size: int, chunk: int | None = None, count: int = 1, privacy: str = "PUBLIC_TO_EVERYONE",
               headers=AUTH, source: dict | None = None) -> httpx.Response:  # fmt: skip
    source_info = source or {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk or size,
                             "total_chunk_count": count}  # fmt: skip
    return await client.post("/tiktok/v2/post/publish/video/init/", headers=headers, json={
        "post_info": {"title": "Dongeng #literasi", "privacy_level": privacy}, "source_info": source_info})


async def status(client, publish_id: str) -> dict:
    r = await client.post("/tiktok/v2/post/publish/status/fetch/", json={"publish_id": publish_id}, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def chunk(client, url: str, data: bytes, first: int, total: int) -> httpx.Response:
    return await client.put(url, content=data, headers={"Content-Type": "video/mp4",
                                                        "Content-Range": f"bytes {first}-{first + len(data) - 1}/{total}"})  # fmt: skip


def code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]


async def test_creator_info_and_answer_shape(client):
    r = await client.post("/tiktok/v2/post/publish/creator_info/query/", headers=AUTH, json={})
    body = r.json()
    assert body["error"]["code"] == "ok" and body["error"]["message"] == "" and len(body["error"]["log_id"]) == 32
    assert body["data"]["creator_username"] == "perpuskota"
    assert "SELF_ONLY" in body["data"]["privacy_level_options"] and body["data"]["max_video_post_duration_sec"] == 600
    r = await client.post("/tiktok/v2/post/publish/creator_info/query/", json={})
    assert r.status_code == 401 and code(r) == "access_token_invalid"
    r = await client.post("/tiktok/v2/post/publish/creator_info/query/", headers={"Authorization": "Bearer noscope.x"})
    assert r.status_code == 401 and code(r) == "scope_not_authorized"


async def test_file_upload_to_publish_complete(client, mp4):
    r = await init(client, len(mp4))
    data = r.json()["data"]
    assert data["publish_id"].startswith("v_pub_file~v2-1.") and "upload_id=" in data["upload_url"]
    assert (await status(client, data["publish_id"]))["status"] == "PROCESSING_UPLOAD"
    r = await chunk(client, data["upload_url"], mp4, 0, len(mp4))
    assert r.status_code == 201
    s = await status(client, data["publish_id"])
    assert s["status"] == "PROCESSING_UPLOAD" and s["uploaded_bytes"] == len(mp4)
    await asyncio.sleep(0.35)
    # Recorded when the processing ended, whether or not anyone asked.
    [post] = (await client.get("/_sandbox/posts", params={"platform": "tiktok"})).json()["posts"]
    s = await status(client, data["publish_id"])
    assert s["status"] == "PUBLISH_COMPLETE" and s["publicaly_available_post_id"] == [int(post["id"])]
    assert post["text"] == "Dongeng #literasi" and post["url"] == f"https://www.tiktok.com/@perpuskota/video/{post['id']}"


async def test_chunk_rules(client):
    r = await init(client, 1000, chunk=500, count=2)
    assert r.status_code == 400 and code(r) == "invalid_params" and "single chunk" in r.json()["error"]["message"]
    r = await init(client, 12 * MB, chunk=4 * MB, count=3)
    assert code(r) == "invalid_params" and "chunk_size" in r.json()["error"]["message"]
    r = await init(client, 12 * MB, chunk=5 * MB, count=3)
    assert code(r) == "invalid_params" and "total_chunk_count" in r.json()["error"]["message"]
    r = await init(client, 12 * MB, chunk=5 * MB, count=2)
    url = r.json()["data"]["upload_url"]
    data = b"\x00\x00\x00\x20ftypisom" + b"\x00" * (12 * MB - 12)
    r = await chunk(client, url, data[5 * MB :], 5 * MB, 12 * MB)
    assert r.status_code == 400 and "in order" in r.json()["error"]["message"]
    r = await chunk(client, url, data[: 4 * MB], 0, 12 * MB)
    assert r.status_code == 400 and code(r) == "invalid_file_upload"
    assert (await chunk(client, url, data[: 5 * MB], 0, 12 * MB)).status_code == 206
    assert (await chunk(client, url, data[: 5 * MB], 0, 12 * MB)).status_code == 206  # sent again: fine
    assert (await chunk(client, url, data[5 * MB :], 5 * MB, 12 * MB)).status_code == 201
    r = await client.put(url.replace("upload_token=", "upload_token=x"), content=b"1",
                         headers={"Content-Range": "bytes 0-0/1"})  # fmt: skip
    assert r.status_code == 404


async def test_interrupted_chunk_is_not_kept(client, mp4):
    r = await init(client, len(mp4))
    data = r.json()["data"]
    await client.put("/_sandbox/faults", json={"platform": "tiktok", "sequence": ["interrupt"]})
    with pytest.raises(ConnectionCut):
        await chunk(client, data["upload_url"], mp4, 0, len(mp4))
    assert (await status(client, data["publish_id"]))["uploaded_bytes"] == 0
    assert (await chunk(client, data["upload_url"], mp4, 0, len(mp4))).status_code == 201


async def test_processing_failure(client, png):
    r = await init(client, len(png()))
    data = r.json()["data"]
    await client.put(data["upload_url"], content=png(),
                     headers={"Content-Type": "video/mp4", "Content-Range": f"bytes 0-{len(png()) - 1}/{len(png())}"})  # fmt: skip
    await asyncio.sleep(0.35)
    s = await status(client, data["publish_id"])
    assert s["status"] == "FAILED" and s["fail_reason"] == "file_format_check_failed"
    assert s["publicaly_available_post_id"] == []


async def test_pull_from_url(client):
    r = await init(client, 0, source={"source": "PULL_FROM_URL", "video_url": "https://cdn.example.org/a.mp4"})
    assert r.status_code == 403 and code(r) == "url_ownership_unverified"
    r = await init(client, 0, source={"source": "PULL_FROM_URL", "video_url": "http://x/_sandbox/media/clip.mp4"})
    publish_id = r.json()["data"]["publish_id"]
    assert "upload_url" not in r.json()["data"]
    assert (await status(client, publish_id))["status"] == "PROCESSING_DOWNLOAD"
    await asyncio.sleep(0.35)
    s = await status(client, publish_id)
    assert s["status"] == "PUBLISH_COMPLETE" and s["downloaded_bytes"] > 0
    r = await init(client, 0, source={"source": "PULL_FROM_URL", "video_url": "http://x/_sandbox/media/gone.mp4"})
    await asyncio.sleep(0.35)
    assert (await status(client, r.json()["data"]["publish_id"]))["fail_reason"] == "video_pull_failed"


async def test_refusals(client):
    r = await init(client, 10, privacy="FRIENDS")
    assert code(r) == "privacy_level_option_mismatch"
    r = await init(client, 10, headers={"Authorization": "Bearer unaudited.x"})
    assert r.status_code == 403 and code(r) == "unaudited_client_can_only_post_to_private_accounts"
    assert (await init(client, 10, privacy="SELF_ONLY", headers={"Authorization": "Bearer unaudited.x"})).status_code == 200
    r = await init(client, 10, headers={"Authorization": "Bearer banned.x"})
    assert code(r) == "spam_risk_user_banned_from_posting"


async def test_limits(client):
    for _ in range(5):
        assert (await init(client, 10)).status_code == 200
    r = await init(client, 10)
    assert r.status_code == 403 and code(r) == "spam_risk_too_many_pending_share"
    other = {"Authorization": "Bearer lain.act"}
    await client.put("/_sandbox/limits", json={"platform": "tiktok", "scope": "posts", "limit": 1, "window_seconds": 86400})
    assert (await init(client, 10, headers=other)).status_code == 200
    r = await init(client, 10, headers=other)
    assert r.status_code == 403 and code(r) == "spam_risk_too_many_posts"
    await client.put("/_sandbox/limits", json={"platform": "tiktok", "scope": "token", "limit": 1, "window_seconds": 60})
    third = {"Authorization": "Bearer ketiga.act"}
    assert (await init(client, 10, headers=third)).status_code == 200
    r = await init(client, 10, headers=third)
    assert r.status_code == 429 and code(r) == "rate_limit_exceeded"


async def test_display_api_and_growth(client, mp4):
    data = (await init(client, len(mp4))).json()["data"]
    await chunk(client, data["upload_url"], mp4, 0, len(mp4))
    await asyncio.sleep(0.35)
    fields = {"fields": "id,title,create_time,share_url,view_count,like_count"}
    videos = (await client.post("/tiktok/v2/video/list/", params=fields, json={"max_count": 20}, headers=AUTH)).json()
    [video] = videos["data"]["videos"]
    assert video["title"] == "Dongeng #literasi" and videos["data"]["has_more"] is False
    r = await client.post("/tiktok/v2/video/query/", params={"fields": "id,view_count"}, headers=AUTH,
                          json={"filters": {"video_ids": [video["id"]]}})  # fmt: skip
    first = r.json()["data"]["videos"][0]
    assert set(first) == {"id", "view_count"}
    user = (await client.get("/tiktok/v2/user/info/", params={"fields": "open_id,username,follower_count,video_count"},
                             headers=AUTH)).json()["data"]["user"]  # fmt: skip
    assert user["username"] == "perpuskota" and user["video_count"] == 1
    await client.put("/_sandbox/clock", json={"advance_seconds": 86400})
    later = {"Authorization": "Bearer perpuskota.later"}
    r = await client.post("/tiktok/v2/video/query/", params={"fields": "id,view_count"}, headers=later,
                          json={"filters": {"video_ids": [video["id"]]}})  # fmt: skip
    assert r.json()["data"]["videos"][0]["view_count"] > first["view_count"]
    r = await client.get("/tiktok/v2/user/info/", headers=later)
    assert code(r) == "invalid_params"  # fields is required


async def test_refresh_rotates(client):
    form = {"client_key": "k", "client_secret": "s", "grant_type": "refresh_token", "refresh_token": "perpuskota.rft"}
    r = await client.post("/tiktok/v2/oauth/token/", data=form)
    body = r.json()
    assert body["expires_in"] == 7200 and body["refresh_expires_in"] == 180 * 86400 and body["open_id"]
    assert body["access_token"].startswith("perpuskota.act.") and body["refresh_token"] != "perpuskota.rft"
    r = await client.post("/tiktok/v2/oauth/token/", data=form)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant" and r.json()["log_id"]
    r = await client.post("/tiktok/v2/oauth/token/", data={**form, "client_secret": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_faults(client):
    await client.put("/_sandbox/faults", json={"platform": "tiktok", "sequence": ["500", "429"],
                                               "retry_after_seconds": 9})  # fmt: skip
    r = await init(client, 10)
    assert r.status_code == 500 and code(r) == "internal_error"
    r = await init(client, 10)
    assert r.status_code == 429 and code(r) == "rate_limit_exceeded" and r.headers["retry-after"] == "9"


async def test_read_faults_reach_the_token_endpoint(client):
    form = {"client_key": "k", "client_secret": "s", "grant_type": "refresh_token", "refresh_token": "perpuskota.rft"}
    await client.put("/_sandbox/faults", json={"platform": "tiktok", "sequence": ["429"], "calls": "reads",
                                               "retry_after_seconds": 12})  # fmt: skip
    r = await client.post("/tiktok/v2/oauth/token/", data=form)
    assert r.status_code == 429 and r.json()["error"] == "rate_limit_exceeded" and r.headers["retry-after"] == "12"
    r = await client.post("/tiktok/v2/oauth/token/", data=form)  # the refresh token was not spent
    assert r.status_code == 200 and r.json()["access_token"].startswith("perpuskota.act.")
