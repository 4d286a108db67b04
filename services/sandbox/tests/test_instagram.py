"""Instagram's content publishing imitation over the real app: Graph paths and parameters,
containers and their states, the publishing quota, error bodies and usage headers, faults,
tokens and insights."""

from __future__ import annotations

import asyncio
import json

import pytest
from siar_sandbox import instagram
from siar_sandbox.settings import Settings

TOKEN = "perpuskota.secret"
IG = instagram.user_id("perpuskota")
PHOTO = "http://sandbox/_sandbox/media/photo.jpg"
CLIP = "http://sandbox/_sandbox/media/clip.mp4"


@pytest.fixture
def settings() -> Settings:
    return Settings(meta_video_processing_seconds=0.3)


def graph_error(r, code: int, subcode: int | None = None, status: int = 400) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error.get("error_subcode") == subcode, error
    assert error["type"] and error["message"] and error["fbtrace_id"]
    return error


async def create(client, **params) -> str:
    r = await client.post(f"/instagram/v21.0/{IG}/media", data={"access_token": TOKEN, **params})
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def status(client, container: str) -> dict:
    r = await client.get(f"/instagram/{container}", params={"access_token": TOKEN, "fields": "status_code,status"})
    assert r.status_code == 200, r.text
    return r.json()


async def publish(client, container: str):
    return await client.post(f"/instagram/{IG}/media_publish", data={"access_token": TOKEN, "creation_id": container})


async def test_me_with_and_without_version_and_bearer_header(client):
    a = await client.get("/instagram/v21.0/me", params={"access_token": TOKEN, "fields": "id,username"})
    b = await client.get("/instagram/me", params={"fields": "id,username"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert a.json() == b.json() == {"id": IG, "username": "perpuskota"}
    usage = json.loads(a.headers["x-app-usage"])
    assert set(usage) == {"call_count", "total_cputime", "total_time"}
    buc = json.loads(a.headers["x-business-use-case-usage"])
    assert buc[IG][0]["type"] == "instagram" and buc[IG][0]["estimated_time_to_regain_access"] == 0


async def test_image_container_publish_and_permalink(client):
    container = await create(client, image_url=PHOTO, caption="Halo")
    assert (await status(client, container))["status_code"] == "FINISHED"
    r = await publish(client, container)
    media_id = r.json()["id"]
    assert media_id != container
    assert (await status(client, container))["status_code"] == "PUBLISHED"
    r = await client.get(f"/instagram/{media_id}", params={"access_token": TOKEN,
                                                          "fields": "id,caption,permalink,media_type,timestamp"})  # fmt: skip
    body = r.json()
    assert body["caption"] == "Halo" and body["media_type"] == "IMAGE"
    assert body["permalink"].startswith("https://www.instagram.com/p/") and body["timestamp"].endswith("+0000")
    posts = (await client.get("/_sandbox/posts", params={"platform": "instagram"})).json()["posts"]
    assert [(p["id"], p["account"], p["text"], p["url"]) for p in posts] == [(media_id, IG, "Halo", body["permalink"])]
    listed = await client.get(f"/instagram/{IG}/media", params={"access_token": TOKEN, "fields": "id,caption"})
    assert listed.json()["data"] == [{"id": media_id, "caption": "Halo"}]


async def test_reel_is_in_progress_then_finished(client):
    container = await create(client, media_type="REELS", video_url=CLIP, caption="Reel")
    assert (await status(client, container))["status_code"] == "IN_PROGRESS"
    error = graph_error(await publish(client, container), 9007, 2207027)
    assert error["error_user_title"] == "Media Not Ready For Publishing"
    await asyncio.sleep(0.35)
    assert (await status(client, container))["status_code"] == "FINISHED"
    media_id = (await publish(client, container)).json()["id"]
    r = await client.get(f"/instagram/{media_id}", params={"access_token": TOKEN, "fields": "permalink,media_product_type"})
    assert r.json()["media_product_type"] == "REELS" and "/reel/" in r.json()["permalink"]


async def test_carousel_waits_for_its_items_and_fails_with_them(client):
    a = await create(client, image_url=PHOTO, is_carousel_item="true")
    b = await create(client, media_type="VIDEO", video_url=CLIP, is_carousel_item="true")
    carousel = await create(client, media_type="CAROUSEL", children=f"{a},{b}", caption="Dua")
    assert (await status(client, carousel))["status_code"] == "IN_PROGRESS"
    await asyncio.sleep(0.35)
    assert (await status(client, carousel))["status_code"] == "FINISHED"
    graph_error(await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN, "media_type": "CAROUSEL",
                                                                  "children": a}), 100, 2207028)  # fmt: skip
    bad = await create(client, media_type="VIDEO", video_url="http://sandbox/_sandbox/media/gone.mp4",
                       is_carousel_item="true")  # fmt: skip
    failing = await create(client, media_type="CAROUSEL", children=f"{a},{bad}")
    await asyncio.sleep(0.35)
    got = await status(client, failing)
    assert got["status_code"] == "ERROR" and "2207077" in got["status"]
    graph_error(await publish(client, failing), 9007, 2207032)


async def test_container_expires_after_a_day(client):
    container = await create(client, image_url=PHOTO)
    await client.put("/_sandbox/clock", json={"advance_seconds": 24 * 3600})
    assert (await status(client, container))["status_code"] == "EXPIRED"
    graph_error(await publish(client, container), 9007, 2207008)


async def test_refused_containers(client):
    r = await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN, "image_url": PHOTO, "caption": "a" * 2201})
    assert graph_error(r, 100, 2207010)["error_user_title"] == "Caption too long"
    r = await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN, "image_url": PHOTO,
                                                          "caption": " ".join(f"#t{i}" for i in range(31))})  # fmt: skip
    graph_error(r, 100, 2207010)
    r = await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN,
                                                          "image_url": "http://sandbox/_sandbox/media/poster.png"})  # fmt: skip
    graph_error(r, 9004, 2207005)
    r = await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN,
                                                          "image_url": "http://sandbox/_sandbox/media/nope.jpg"})  # fmt: skip
    graph_error(r, 9004, 2207052)
    r = await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN, "video_url": CLIP})
    graph_error(r, 100, 2207023)
    r = await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN})
    graph_error(r, 100)


async def test_spam_and_the_daily_quota(client):
    spam = await create(client, image_url=PHOTO, caption="SANDBOX_SPAM")
    graph_error(await publish(client, spam), 4, 2207051)
    await client.put("/_sandbox/limits", json={"platform": "instagram", "scope": "publishing", "limit": 1,
                                               "window_seconds": 86400})  # fmt: skip
    assert (await publish(client, await create(client, image_url=PHOTO))).status_code == 200
    error = graph_error(await publish(client, await create(client, image_url=PHOTO)), 9, 2207042, status=403)
    assert error["error_user_title"] == "Max posts reached"
    r = await client.get(f"/instagram/{IG}/content_publishing_limit",
                         params={"access_token": TOKEN, "fields": "quota_usage,config"})  # fmt: skip
    assert r.json() == {"data": [{"quota_usage": 1, "config": {"quota_total": 1, "quota_duration": 86400}}]}
    await client.put("/_sandbox/clock", json={"advance_seconds": 86401})
    assert (await publish(client, await create(client, image_url=PHOTO))).status_code == 200


async def test_tokens(client):
    r = await client.get("/instagram/me")
    graph_error(r, 104)
    assert r.headers["www-authenticate"].startswith('OAuth "Facebook Platform" "invalid_token"')
    graph_error(await client.get("/instagram/me", params={"access_token": "revoked.x"}), 190, 460)
    graph_error(await client.get("/instagram/me", params={"access_token": "expired.x"}), 190, 463)
    await client.post("/_sandbox/tokens/revoke", json={"platform": "instagram", "token": TOKEN})
    graph_error(await client.get("/instagram/me", params={"access_token": TOKEN}), 190, 460)
    r = await client.post(f"/instagram/{IG}/media", data={"access_token": "noperm.x", "image_url": PHOTO})
    graph_error(r, 10, status=403)


async def test_refresh_and_debug_token(client):
    r = await client.get("/instagram/refresh_access_token", params={"grant_type": "ig_refresh_token",
                                                                    "access_token": TOKEN})  # fmt: skip
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 5_183_944
    new = body["access_token"]
    debug = (await client.get("/instagram/debug_token", params={"access_token": new, "input_token": new})).json()
    assert debug["data"]["is_valid"] is True and debug["data"]["user_id"] == IG
    await client.put("/_sandbox/clock", json={"advance_seconds": 5_183_945})
    graph_error(await client.get("/instagram/me", params={"access_token": new}), 190, 463)
    debug = (await client.get("/instagram/debug_token", params={"access_token": "other.x", "input_token": new})).json()
    assert debug["data"]["is_valid"] is False and debug["data"]["error"]["subcode"] == 463


async def test_faults_use_graph_bodies_and_timeout_after_commit_records(client):
    await client.put("/_sandbox/faults", json={"platform": "instagram", "sequence": ["429", "500", "503", "502"],
                                               "retry_after_seconds": 61})  # fmt: skip
    r = await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN, "image_url": PHOTO})
    graph_error(r, 4)
    buc = json.loads(r.headers["x-business-use-case-usage"])
    assert buc[IG][0]["estimated_time_to_regain_access"] == 2 and buc[IG][0]["call_count"] == 100
    graph_error(await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN, "image_url": PHOTO}), 1, status=500)
    graph_error(await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN, "image_url": PHOTO}), 2, status=503)
    r = await client.post(f"/instagram/{IG}/media", data={"access_token": TOKEN, "image_url": PHOTO})
    assert r.status_code == 502 and "text/html" in r.headers["content-type"]
    # Reads are never faulted.
    await client.put("/_sandbox/faults", json={"platform": "instagram", "error_rates": {"500": 1.0}})
    assert (await client.get("/instagram/me", params={"access_token": TOKEN})).status_code == 200


async def test_calls_limit_is_code_4_with_the_time_to_regain_access(client):
    await client.put("/_sandbox/limits", json={"platform": "instagram", "scope": "calls", "limit": 1,
                                               "window_seconds": 600})  # fmt: skip
    assert (await client.get("/instagram/me", params={"access_token": TOKEN})).status_code == 200
    r = await client.get("/instagram/me", params={"access_token": TOKEN})
    graph_error(r, 4)
    minutes = json.loads(r.headers["x-business-use-case-usage"])[IG][0]["estimated_time_to_regain_access"]
    assert 1 <= minutes <= 10


async def test_insights_grow_with_the_clock(client):
    media_id = (await publish(client, await create(client, image_url=PHOTO))).json()["id"]
    params = {"access_token": TOKEN, "metric": "views,reach,saved,likes,comments,shares,total_interactions"}
    r = await client.get(f"/instagram/{media_id}/insights", params=params)
    first = r.json()["data"]
    assert [m["name"] for m in first] == params["metric"].split(",")
    assert first[0]["period"] == "lifetime" and first[0]["id"] == f"{media_id}/insights/views/lifetime"
    await client.put("/_sandbox/clock", json={"advance_seconds": 86400})
    later = {m["name"]: m["values"][0]["value"] for m in
             (await client.get(f"/instagram/{media_id}/insights", params=params)).json()["data"]}  # fmt: skip
    expected = instagram.media_insights(media_id, 86400)
    assert all(abs(later[k] - expected[k]) <= 2 for k in expected)
    graph_error(await client.get(f"/instagram/{media_id}/insights", params={"access_token": TOKEN,
                                                                            "metric": "impressions"}), 100)  # fmt: skip
    user = await client.get(f"/instagram/{IG}", params={"access_token": TOKEN, "fields": "followers_count,media_count"})
    assert user.json()["followers_count"] == instagram.followers_count(IG, 1)


async def test_insights_of_a_post_with_too_few_viewers(client):
    media_id = (await publish(client, await create(client, image_url=PHOTO, caption="SANDBOX_FEW_VIEWERS"))).json()["id"]
    r = await client.get(f"/instagram/{media_id}/insights", params={"access_token": TOKEN, "metric": "views,reach"})
    error = graph_error(r, 10)
    assert error["message"] == "(#10) Not enough viewers for the media to show insights"


async def test_unknown_objects_and_paths(client):
    graph_error(await client.get("/instagram/0123/media", params={"access_token": TOKEN}), 100, 33)
    graph_error(await client.get("/instagram/foo/bar", params={"access_token": TOKEN}), 2500)
    graph_error(await publish(client, "424242"), 100, 33)


async def test_clock_control(client):
    r = await client.put("/_sandbox/clock", json={"advance_seconds": 90})
    assert r.json()["offset_seconds"] == 90
    r = await client.put("/_sandbox/clock", json={"offset_seconds": 30})
    assert (await client.get("/_sandbox/clock")).json()["offset_seconds"] == 30
    for bad in ({"advance_seconds": "x"}, {"later": 1}, {"advance_seconds": 1, "offset_seconds": 2}):
        r = await client.put("/_sandbox/clock", json=bad)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    await client.post("/_sandbox/reset")
    assert (await client.get("/_sandbox/clock")).json()["offset_seconds"] == 0
