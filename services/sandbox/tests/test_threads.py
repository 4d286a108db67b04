"""The Threads API imitation over the real app: containers (text, image, video, carousel), their
states and error messages, the publishing quota, tokens, faults and insights."""

from __future__ import annotations

import asyncio

import pytest
from siar_platforms import threads_length
from siar_sandbox import threads
from siar_sandbox.settings import Settings

TOKEN = "perpuskota.secret"
UID = threads.user_id("perpuskota")
PHOTO = "http://sandbox/_sandbox/media/photo.jpg"
CLIP = "http://sandbox/_sandbox/media/clip.mp4"


@pytest.fixture
def settings() -> Settings:
    return Settings(meta_video_processing_seconds=0.3)


def graph_error(r, code: int, subcode: int | None = None, status: int = 400) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error.get("error_subcode") == subcode, error
    return error


async def create(client, **params) -> str:
    r = await client.post(f"/threads/v1.0/{UID}/threads", data={"access_token": TOKEN, **params})
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def state(client, container: str) -> dict:
    r = await client.get(f"/threads/v1.0/{container}", params={"access_token": TOKEN, "fields": "status,error_message"})
    return r.json()


async def publish(client, container: str):
    return await client.post(f"/threads/v1.0/{UID}/threads_publish", data={"access_token": TOKEN, "creation_id": container})


async def test_me(client):
    r = await client.get("/threads/v1.0/me", params={"access_token": TOKEN, "fields": "id,username,name"})
    assert r.json() == {"id": UID, "username": "perpuskota", "name": "Perpuskota"}
    assert "x-business-use-case-usage" not in r.headers and "x-app-usage" in r.headers


async def test_text_post_and_its_permalink(client):
    container = await create(client, media_type="TEXT", text="Halo 👋")
    assert await state(client, container) == {"id": container, "status": "FINISHED"}
    thread_id = (await publish(client, container)).json()["id"]
    assert (await state(client, container))["status"] == "PUBLISHED"
    r = await client.get(f"/threads/v1.0/{thread_id}", params={"access_token": TOKEN, "fields": "text,permalink,media_type"})
    assert r.json()["text"] == "Halo 👋" and r.json()["media_type"] == "TEXT_POST"
    assert r.json()["permalink"].startswith("https://www.threads.net/@perpuskota/post/")
    listed = await client.get(f"/threads/v1.0/{UID}/threads", params={"access_token": TOKEN, "fields": "id,text"})
    assert listed.json()["data"] == [{"id": thread_id, "text": "Halo 👋"}]
    [post] = (await client.get("/_sandbox/posts", params={"platform": "threads"})).json()["posts"]
    assert post["id"] == thread_id and post["account"] == UID and post["url"] == r.json()["permalink"]


async def test_video_processing_and_errors(client):
    container = await create(client, media_type="VIDEO", video_url=CLIP, text="v")
    assert (await state(client, container))["status"] == "IN_PROGRESS"
    graph_error(await publish(client, container), 9007, 2207027)
    failed = await create(client, media_type="VIDEO", video_url="http://sandbox/_sandbox/media/nope.mp4")
    wrong = await create(client, media_type="VIDEO", video_url=PHOTO)
    await asyncio.sleep(0.35)
    assert (await state(client, container))["status"] == "FINISHED"
    assert await state(client, failed) == {"id": failed, "status": "ERROR", "error_message": "FAILED_DOWNLOADING_VIDEO"}
    assert (await state(client, wrong))["error_message"] == "FAILED_PROCESSING_VIDEO"
    assert (await publish(client, container)).status_code == 200


async def test_carousel_and_expiry(client):
    items = [await create(client, media_type="IMAGE", image_url=PHOTO, is_carousel_item="true") for _ in range(2)]
    carousel = await create(client, media_type="CAROUSEL", children=",".join(items), text="dua")
    assert (await state(client, carousel))["status"] == "FINISHED"
    graph_error(await client.post(f"/threads/{UID}/threads", data={"access_token": TOKEN, "media_type": "CAROUSEL",
                                                                   "children": items[0]}), 100)  # fmt: skip
    await client.put("/_sandbox/clock", json={"advance_seconds": 86400})
    assert (await state(client, carousel))["status"] == "EXPIRED"
    graph_error(await publish(client, carousel), 9007, 2207008)


async def test_text_limit_counts_emoji_as_bytes(client):
    await create(client, media_type="TEXT", text="📚" * 125)
    graph_error(await client.post(f"/threads/{UID}/threads", data={"access_token": TOKEN, "media_type": "TEXT",
                                                                   "text": "📚" * 126}), 100)  # fmt: skip
    graph_error(await client.post(f"/threads/{UID}/threads", data={"access_token": TOKEN, "text": "x"}), 100)


async def test_a_zwj_family_counts_its_utf8_bytes_as_one_emoji(client):
    # 👨‍👩‍👧‍👦 is 25 UTF-8 bytes (four 4-byte people and three 3-byte joiners): 20 of them are 500.
    family = "👨‍👩‍👧‍👦"
    assert threads.text_length(family) == threads_length(family) == 25
    await create(client, media_type="TEXT", text=family * 20)
    graph_error(await client.post(f"/threads/{UID}/threads", data={"access_token": TOKEN, "media_type": "TEXT",
                                                                   "text": family * 20 + "x"}), 100)  # fmt: skip
    assert threads.text_length("🇮🇩") == 8 and threads.text_length("❤️") == 6


async def test_publishing_limit(client):
    r = await client.get(f"/threads/v1.0/{UID}/threads_publishing_limit",
                         params={"access_token": TOKEN, "fields": "quota_usage,config"})  # fmt: skip
    assert r.json() == {"data": [{"quota_usage": 0, "config": {"quota_total": 250, "quota_duration": 86400}}]}
    await client.put("/_sandbox/limits", json={"platform": "threads", "scope": "publishing", "limit": 1,
                                               "window_seconds": 86400})  # fmt: skip
    await publish(client, await create(client, media_type="TEXT", text="1"))
    graph_error(await publish(client, await create(client, media_type="TEXT", text="2")), 9, 2207042, status=403)


async def test_tokens_refresh_and_faults(client):
    graph_error(await client.get("/threads/me", params={"access_token": "revoked.a"}), 190, 460)
    graph_error(await client.post(f"/threads/{UID}/threads", data={"access_token": "noperm.a", "media_type": "TEXT",
                                                                   "text": "x"}), 10, status=403)  # fmt: skip
    r = await client.get("/threads/refresh_access_token", params={"grant_type": "th_refresh_token", "access_token": TOKEN})
    assert r.json()["expires_in"] == 5_183_944
    graph_error(await client.get("/threads/refresh_access_token",
                                 params={"grant_type": "ig_refresh_token", "access_token": TOKEN}), 100)  # fmt: skip
    await client.put("/_sandbox/faults", json={"platform": "threads", "sequence": ["429"]})
    r = await client.post(f"/threads/{UID}/threads", data={"access_token": TOKEN, "media_type": "TEXT", "text": "x"})
    graph_error(r, 4)
    assert '"call_count":100' in r.headers["x-app-usage"]


async def test_insights(client):
    thread_id = (await publish(client, await create(client, media_type="TEXT", text="ukur"))).json()["id"]
    await client.put("/_sandbox/clock", json={"advance_seconds": 7200})
    r = await client.get(f"/threads/v1.0/{thread_id}/insights",
                         params={"access_token": TOKEN, "metric": "views,likes,replies,reposts,quotes,shares"})  # fmt: skip
    got = {m["name"]: m["values"][0]["value"] for m in r.json()["data"]}
    expected = threads.media_insights(thread_id, 7200)
    assert all(abs(got[k] - expected[k]) <= 1 for k in expected)
    r = await client.get(f"/threads/v1.0/{UID}/threads_insights", params={"access_token": TOKEN, "metric": "followers_count"})
    [entry] = r.json()["data"]
    assert entry["total_value"] == {"value": threads.followers_count(UID, 1)} and entry["name"] == "followers_count"
    graph_error(await client.get(f"/threads/{thread_id}/insights", params={"access_token": TOKEN, "metric": "clicks"}), 100)
