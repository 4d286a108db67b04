"""The Facebook Pages imitation over the real app: feed posts, unpublished photos attached to a
post, videos and their processing, duplicates, errors, usage headers and insights."""

from __future__ import annotations

import asyncio
import json

import pytest
from siar_sandbox import facebook
from siar_sandbox.settings import Settings

TOKEN = "perpuskota.page"
PAGE = facebook.page_id("perpuskota")
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


async def test_page_fields_and_debug_token(client):
    r = await client.get(f"/facebook/v21.0/{PAGE}", params={"access_token": TOKEN, "fields": "id,name,username,followers_count"})
    assert r.json() == {"id": PAGE, "name": "Perpuskota", "username": "perpuskota",
                        "followers_count": facebook.followers_count(PAGE, 0)}  # fmt: skip
    buc = json.loads(r.headers["x-business-use-case-usage"])
    assert buc[PAGE][0]["type"] == "pages"
    debug = (await client.get("/facebook/debug_token", params={"access_token": TOKEN, "input_token": TOKEN})).json()
    assert debug["data"]["expires_at"] == 0 and debug["data"]["type"] == "PAGE"


async def test_feed_post_with_permalink_and_attached_photos(client):
    photos = []
    for _ in range(2):
        r = await client.post(f"/facebook/v21.0/{PAGE}/photos", json={"access_token": TOKEN, "url": PHOTO, "published": False})
        photos.append(r.json()["id"])
    assert (await client.get("/_sandbox/posts", params={"platform": "facebook"})).json()["count"] == 0
    r = await client.post(f"/facebook/v21.0/{PAGE}/feed", params={"access_token": TOKEN, "fields": "id,permalink_url"},
                          json={"message": "Foto", "attached_media": [{"media_fbid": p} for p in photos]})  # fmt: skip
    body = r.json()
    assert body["id"].startswith(f"{PAGE}_") and body["permalink_url"].startswith("https://www.facebook.com/")
    [post] = (await client.get("/_sandbox/posts", params={"platform": "facebook"})).json()["posts"]
    assert post["id"] == body["id"] and [m["id"] for m in post["media"]] == photos
    # A photo attaches once.
    r = await client.post(f"/facebook/{PAGE}/feed", json={"access_token": TOKEN, "message": "lagi",
                                                          "attached_media": [{"media_fbid": photos[0]}]})  # fmt: skip
    graph_error(r, 100)
    # Form-encoded attached_media[0], as the PHP and JS SDKs send it.
    r = await client.post(f"/facebook/{PAGE}/photos", data={"access_token": TOKEN, "url": PHOTO, "published": "false"})
    r = await client.post(f"/facebook/{PAGE}/feed", data={"access_token": TOKEN, "message": "form",
                                                          "attached_media[0]": json.dumps({"media_fbid": r.json()["id"]})})  # fmt: skip
    assert r.status_code == 200, r.text
    listed = await client.get(f"/facebook/{PAGE}/posts", params={"access_token": TOKEN, "fields": "id,message"})
    assert [p["message"] for p in listed.json()["data"]] == ["form", "Foto"]


async def test_published_photo_is_a_post(client):
    r = await client.post(f"/facebook/{PAGE}/photos", data={"access_token": TOKEN, "url": PHOTO, "caption": "Satu"})
    assert set(r.json()) == {"id", "post_id"}
    graph_error(await client.post(f"/facebook/{PAGE}/photos", data={"access_token": TOKEN,
                                                                     "url": "http://sandbox/_sandbox/media/x.jpg"}), 324)  # fmt: skip


async def test_video_processing(client):
    video_id = (await client.post(f"/facebook/{PAGE}/videos", data={"access_token": TOKEN, "file_url": CLIP,
                                                                    "description": "Video"})).json()["id"]  # fmt: skip
    fields = {"access_token": TOKEN, "fields": "status,permalink_url"}
    r = await client.get(f"/facebook/{video_id}", params=fields)
    assert r.json()["status"]["video_status"] == "processing" and r.json()["permalink_url"].startswith("/perpuskota/videos/")
    await asyncio.sleep(0.35)
    assert (await client.get(f"/facebook/{video_id}", params=fields)).json()["status"]["video_status"] == "ready"
    bad = (await client.post(f"/facebook/{PAGE}/videos", data={"access_token": TOKEN, "file_url": PHOTO})).json()["id"]
    await asyncio.sleep(0.35)
    assert (await client.get(f"/facebook/{bad}", params=fields)).json()["status"]["video_status"] == "error"
    posts = (await client.get("/_sandbox/posts", params={"platform": "facebook"})).json()["posts"]
    assert [p["id"] for p in posts] == [video_id]


async def test_duplicates_policy_permissions_and_missing_pages(client):
    assert (await client.post(f"/facebook/{PAGE}/feed", data={"access_token": TOKEN, "message": "Sama"})).status_code == 200
    graph_error(await client.post(f"/facebook/{PAGE}/feed", data={"access_token": TOKEN, "message": "Sama"}), 506)
    graph_error(await client.post(f"/facebook/{PAGE}/feed", data={"access_token": TOKEN, "message": "SANDBOX_SPAM"}),
                368, 1390008)  # fmt: skip
    graph_error(await client.post(f"/facebook/{PAGE}/feed", data={"access_token": "noperm.x", "message": "x"}), 200, status=403)
    graph_error(await client.post("/facebook/0123/feed", data={"access_token": TOKEN, "message": "x"}), 100, 33)
    graph_error(await client.post(f"/facebook/{PAGE}/feed", data={"access_token": TOKEN}), 100)
    graph_error(await client.get("/facebook/me", params={"access_token": "expired.x"}), 190, 463)


async def test_faults_and_calls_limit(client):
    await client.put("/_sandbox/faults", json={"platform": "facebook", "account": PAGE, "sequence": ["429", "500"],
                                               "retry_after_seconds": 600})  # fmt: skip
    r = await client.post(f"/facebook/{PAGE}/feed", data={"access_token": TOKEN, "message": "x"})
    graph_error(r, 32)
    assert json.loads(r.headers["x-business-use-case-usage"])[PAGE][0]["estimated_time_to_regain_access"] == 10
    graph_error(await client.post(f"/facebook/{PAGE}/feed", data={"access_token": TOKEN, "message": "x"}), 1, status=500)
    await client.put("/_sandbox/limits", json={"platform": "facebook", "scope": "calls", "limit": 1, "window_seconds": 60})
    await client.get(f"/facebook/{PAGE}", params={"access_token": TOKEN})
    graph_error(await client.get(f"/facebook/{PAGE}", params={"access_token": TOKEN}), 32)


async def test_insights(client):
    post_id = (await client.post(f"/facebook/{PAGE}/feed", data={"access_token": TOKEN, "message": "ukur"})).json()["id"]
    await client.put("/_sandbox/clock", json={"advance_seconds": 3600})
    metric = "post_total_media_view_unique,post_reactions_by_type_total,post_clicks"
    r = await client.get(f"/facebook/{post_id}/insights", params={"access_token": TOKEN, "metric": metric})
    got = {m["name"]: m["values"][0]["value"] for m in r.json()["data"]}
    expected = facebook.post_insights(post_id, 3600)
    assert abs(got["post_clicks"] - expected["post_clicks"]) <= 1
    assert isinstance(got["post_reactions_by_type_total"], dict)
    graph_error(await client.get(f"/facebook/{post_id}/insights", params={"access_token": TOKEN,
                                                                         "metric": "post_impressions"}), 100)  # fmt: skip


async def test_comments_and_shares_are_fields_of_the_post_growing_with_time(client):
    # A post's peaks are drawn from its (random) id and may be 0; a post nobody ever shares
    # would not show the growth, so publish until one that will be shared and commented on.
    for i in range(20):  # a different message each time: Graph refuses a repeat (506)
        post_id = (await client.post(f"/facebook/{PAGE}/feed", data={"access_token": TOKEN,
                                                                     "message": f"ramai ({i + 1})"})).json()["id"]  # fmt: skip
        if min(facebook.post_counts(post_id, 12 * 3600).values()) > 0:
            break
    fields = {"access_token": TOKEN, "fields": "shares,comments.limit(0).summary(true)"}
    fresh = (await client.get(f"/facebook/{post_id}", params=fields)).json()
    # Nobody shared it yet: Graph leaves "shares" out rather than answering zero.
    assert fresh == {"id": post_id, "comments": {"data": [], "summary": {"order": "ranked", "total_count": 0,
                                                                        "can_comment": True}}}  # fmt: skip
    await client.put("/_sandbox/clock", json={"advance_seconds": 12 * 3600})
    later = (await client.get(f"/facebook/{post_id}", params=fields)).json()
    expected = facebook.post_counts(post_id, 12 * 3600)
    assert expected["comments"] > 0 and expected["shares"] > 0
    assert abs(later["shares"]["count"] - expected["shares"]) <= 1 and set(later["shares"]) == {"count"}
    assert abs(later["comments"]["summary"]["total_count"] - expected["comments"]) <= 1
    assert later["comments"]["data"] == []
    # Without limit(0) the comments themselves come too (25 at most), oldest first.
    listed = (await client.get(f"/facebook/{post_id}", params={"access_token": TOKEN, "fields": "comments"})).json()
    assert len(listed["comments"]["data"]) == min(25, later["comments"]["summary"]["total_count"])
    assert {"id", "message", "created_time"} <= set(listed["comments"]["data"][0]) and "summary" not in listed["comments"]
    # The Page's post list answers the same fields.
    posts = (await client.get(f"/facebook/{PAGE}/posts", params=fields)).json()["data"]
    assert posts[0]["shares"] == later["shares"] and posts[0]["comments"] == later["comments"]


async def test_a_video_has_comments_but_no_shares_field(client):
    video_id = (await client.post(f"/facebook/{PAGE}/videos", data={"access_token": TOKEN, "file_url": CLIP,
                                                                     "description": "v"})).json()["id"]  # fmt: skip
    await client.put("/_sandbox/clock", json={"advance_seconds": 6 * 3600})
    r = await client.get(f"/facebook/{video_id}", params={"access_token": TOKEN,
                                                          "fields": "comments.summary(true).limit(0)"})  # fmt: skip
    assert r.json()["comments"]["summary"]["total_count"] == pytest.approx(
        facebook.post_counts(video_id, 6 * 3600)["comments"], abs=1)
    error = graph_error(await client.get(f"/facebook/{video_id}", params={"access_token": TOKEN, "fields": "shares"}),
                        100)  # fmt: skip
    assert error["message"] == "(#100) Tried accessing nonexisting field (shares) on node type (Video)"


async def test_a_video_has_video_insights_and_no_insights_edge(client):
    video_id = (await client.post(f"/facebook/{PAGE}/videos", data={"access_token": TOKEN, "file_url": CLIP,
                                                                     "description": "v"})).json()["id"]  # fmt: skip
    await client.put("/_sandbox/clock", json={"advance_seconds": 6 * 3600})
    error = graph_error(await client.get(f"/facebook/{video_id}/insights", params={
        "access_token": TOKEN, "metric": "post_total_media_view_unique"}), 100)  # fmt: skip
    assert error["message"] == "(#100) Tried accessing nonexisting field (insights) on node type (Video)"
    r = await client.get(f"/facebook/{video_id}/video_insights", params={"access_token": TOKEN})
    data = r.json()["data"]
    assert [m["name"] for m in data] == list(facebook.VIDEO_METRICS)
    views = data[0]
    assert views["period"] == "lifetime" and views["id"] == f"{video_id}/video_insights/total_video_views/lifetime"
    assert views["title"] == "Lifetime Total Video Views"
    expected = facebook.video_insights(video_id, 6 * 3600)
    assert abs(views["values"][0]["value"] - expected["total_video_views"]) <= 2
    r = await client.get(f"/facebook/{video_id}/video_insights", params={"access_token": TOKEN,
                                                                         "metric": "total_video_views_unique"})  # fmt: skip
    assert [m["name"] for m in r.json()["data"]] == ["total_video_views_unique"]
    graph_error(await client.get(f"/facebook/{video_id}/video_insights", params={
        "access_token": TOKEN, "metric": "post_media_view"}), 100)  # fmt: skip
