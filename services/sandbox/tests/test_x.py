"""The X API v2 imitation over the real app: tweets, the chunked media upload and its
processing, problem bodies, rate-limit headers, duplicates, OAuth 2.0 refresh, metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from siar_platforms import x_weighted_length
from siar_sandbox import x
from siar_sandbox.apikit import ConnectionCut

TOKEN = "perpuskota.x-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def tweet(client, text: str, headers=AUTH, **extra) -> httpx.Response:
    return await client.post("/x/2/tweets", json={"text": text, **extra}, headers=headers)


async def upload(client, data: bytes, media_type: str, category: str | None = None, segment: int = 700) -> str:
    body = {"media_type": media_type, "total_bytes": len(data)}
    if category:
        body["media_category"] = category
    r = await client.post("/x/2/media/upload/initialize", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    media_id = r.json()["data"]["id"]
    assert r.json()["data"]["media_key"].endswith("_" + media_id)
    for i, start in enumerate(range(0, len(data), segment)):
        r = await client.post(f"/x/2/media/upload/{media_id}/append", data={"segment_index": str(i)},
                              files={"media": ("blob", data[start : start + segment])}, headers=AUTH)  # fmt: skip
        assert r.status_code == 200 and r.json()["data"]["expires_at"] > 0
    return media_id


async def test_users_me_and_auth(client):
    r = await client.get("/x/2/users/me", params={"user.fields": "public_metrics,subscription_type"}, headers=AUTH)
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["username"] == "perpuskota" and len(data["id"]) == 19 and data["subscription_type"] == "None"
    assert set(data["public_metrics"]) >= {"followers_count", "following_count", "tweet_count"}
    for name in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
        assert r.headers[name].isdigit()
    r = await client.get("/x/2/users/me", headers={"Authorization": "Bearer revoked.x"})
    assert r.status_code == 401
    assert r.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}


async def test_create_tweet_shortens_links_and_escapes(client):
    text = "Lomba & dongeng <anak> https://perpus.go.id/acara?x=1."
    r = await tweet(client, text)
    assert r.status_code == 201
    data = r.json()["data"]
    assert data["edit_history_tweet_ids"] == [data["id"]]
    assert data["text"].startswith("Lomba &amp; dongeng &lt;anak&gt; https://t.co/") and data["text"].endswith(".")
    me = (await client.get("/x/2/users/me", headers=AUTH)).json()["data"]
    timeline = await client.get(f"/x/2/users/{me['id']}/tweets", headers=AUTH,
                                params={"tweet.fields": "created_at,entities,public_metrics"})  # fmt: skip
    [shown] = timeline.json()["data"]
    [url] = shown["entities"]["urls"]
    assert url["expanded_url"] == "https://perpus.go.id/acara?x=1" and shown["text"][url["start"]:url["end"]] == url["url"]
    assert timeline.json()["meta"]["result_count"] == 1
    [post] = (await client.get("/_sandbox/posts", params={"platform": "x"})).json()["posts"]
    assert post["text"] == text and post["url"] == f"https://x.com/perpuskota/status/{data['id']}"


async def test_a_long_post_has_its_whole_text_in_note_tweet(client):
    # X Premium: over 280 weighted characters. ``text`` keeps the start (cut at a word, no link
    # cut in two); ``note_tweet`` holds the whole text, links as t.co with their own entities.
    auth = {"Authorization": "Bearer premiumlib.x-token"}
    words = " ".join(f"kata{n}" for n in range(60))
    text = f"Jadwal & acara https://perpus.go.id/acara {words} lihat https://perpus.go.id/akhir"
    assert x_weighted_length(text) > 280
    r = await tweet(client, text, headers=auth)
    assert r.status_code == 201
    tweet_id = r.json()["data"]["id"]
    me = (await client.get("/x/2/users/me", headers=auth)).json()["data"]
    plain = (await client.get(f"/x/2/users/{me['id']}/tweets", headers=auth,
                              params={"tweet.fields": "entities"})).json()["data"][0]  # fmt: skip
    assert "note_tweet" not in plain
    assert x_weighted_length(plain["text"]) <= 270 and plain["text"].startswith("Jadwal &amp; acara https://t.co/")
    assert "kata59" not in plain["text"]
    assert [u["expanded_url"] for u in plain["entities"]["urls"]] == ["https://perpus.go.id/acara"]
    for path, params in ((f"/x/2/users/{me['id']}/tweets", {"tweet.fields": "note_tweet,entities"}),
                         (f"/x/2/tweets/{tweet_id}", {"tweet.fields": "note_tweet"})):  # fmt: skip
        data = (await client.get(path, headers=auth, params=params)).json()["data"]
        data = data[0] if isinstance(data, list) else data
        note = data["note_tweet"]
        assert note["text"].startswith("Jadwal &amp; acara https://t.co/") and "kata59 lihat https://t.co/" in note["text"]
        assert [u["expanded_url"] for u in note["entities"]["urls"]] == ["https://perpus.go.id/acara",
                                                                        "https://perpus.go.id/akhir"]  # fmt: skip
        assert all(note["text"][u["start"]:u["end"]] == u["url"] for u in note["entities"]["urls"])
        assert note["text"].startswith(data["text"]) and note["text"][len(data["text"])] == " "  # cut at a word
    # A post within 280 has no note_tweet, even when asked for.
    r = await tweet(client, "Pendek saja", headers=auth)
    short = (await client.get(f"/x/2/tweets/{r.json()['data']['id']}", headers=auth,
                              params={"tweet.fields": "note_tweet"})).json()["data"]  # fmt: skip
    assert "note_tweet" not in short and short["text"] == "Pendek saja"


async def test_tweet_errors(client):
    r = await tweet(client, "")
    assert r.status_code == 400 and r.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert r.json()["errors"][0]["parameters"] == {"text": [""]}
    r = await tweet(client, "x" * 281)
    assert r.status_code == 403 and "too long" in r.json()["detail"]
    assert (await tweet(client, "世" * 140)).status_code == 201  # CJK weighs 2: 280 exactly
    assert (await tweet(client, "世" * 141)).status_code == 403
    assert (await tweet(client, "sama")).status_code == 201
    r = await tweet(client, "sama")
    assert r.status_code == 403 and r.json() == {
        "title": "Forbidden", "type": "about:blank", "status": 403,
        "detail": "You are not allowed to create a Tweet with duplicate content."}
    r = await tweet(client, "media", media={"media_ids": ["123"]})
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == "Your media IDs are invalid."
    r = await tweet(client, "tanpa izin", headers={"Authorization": "Bearer readonly.x"})
    assert r.status_code == 403


# Texts X accepts at exactly 280 (twitter-text v3, platforms.md X §3): every emoji weighs 2 however
# many code points it has (a flag is two, a ZWJ family seven), and every URL 23, written with
# https:// or bare with a known TLD. The sandbox once weighed each code point and counted bare
# domains in full, refusing all three.
FLAGS = "Dirgahayu RI " + "a" * 257 + "🇮🇩" * 5
FAMILY = "Keluarga " + "👨‍👩‍👧‍👦" * 135 + "!"
BARE_LINK = "b" * 256 + " perpusnas.go.id/koleksi/buku"


@pytest.mark.parametrize(
    ("at_limit", "over_limit"),
    [
        (FLAGS, FLAGS.replace("a", "aa", 1)),
        (FAMILY, FAMILY[:-1] + "👨‍👩‍👧‍👦"),
        (BARE_LINK, "b" + BARE_LINK),
    ],
)
async def test_text_is_weighed_as_twitter_text_does(client, at_limit, over_limit):
    assert x.weighted_length(at_limit) == x_weighted_length(at_limit) == 280
    assert x.weighted_length(over_limit) == x_weighted_length(over_limit) == 281
    assert (await tweet(client, at_limit)).status_code == 201
    r = await tweet(client, over_limit)
    assert r.status_code == 403 and "too long" in r.json()["detail"]


async def test_examples_siar_accepts_are_accepted(client):
    for text in ("Dirgahayu RI " + "a" * 257 + "🇮🇩" * 5, "Keluarga " + "👨‍👩‍👧‍👦" * 100,
                 "b" * 250 + " perpusnas.go.id/koleksi/buku"):  # fmt: skip
        assert x_weighted_length(text) <= 280
        assert (await tweet(client, text)).status_code == 201, text


async def test_a_bare_domain_is_a_link(client):
    r = await tweet(client, "Katalog: perpusnas.go.id/koleksi/buku.")
    assert r.status_code == 201
    shown = r.json()["data"]["text"]
    assert shown.startswith("Katalog: https://t.co/") and shown.endswith(".")
    me = (await client.get("/x/2/users/me", headers=AUTH)).json()["data"]
    timeline = await client.get(f"/x/2/users/{me['id']}/tweets", headers=AUTH, params={"tweet.fields": "entities"})
    [url] = timeline.json()["data"][0]["entities"]["urls"]
    assert url["expanded_url"] == "http://perpusnas.go.id/koleksi/buku"
    assert url["display_url"].startswith("perpusnas.go.id/koleksi/")


async def test_rate_limits(client):
    await client.put("/_sandbox/limits", json={"platform": "x", "scope": "user", "limit": 1, "window_seconds": 900})
    assert (await tweet(client, "satu")).status_code == 201
    r = await tweet(client, "dua")
    assert r.status_code == 429 and r.json() == {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
    assert r.headers["x-rate-limit-remaining"] == "0"
    assert int(r.headers["x-rate-limit-reset"]) > datetime.now(UTC).timestamp()
    await client.delete("/_sandbox/limits")
    await client.put("/_sandbox/limits", json={"platform": "x", "scope": "user_24h", "limit": 1, "window_seconds": 86400})
    r = await tweet(client, "tiga")
    assert r.status_code == 201 and r.headers["x-user-limit-24hour-remaining"] == "0"
    r = await tweet(client, "empat")
    assert r.status_code == 429 and r.headers["x-user-limit-24hour-remaining"] == "0"
    assert r.headers["x-user-limit-24hour-limit"] == "1"


async def test_image_upload_is_synchronous(client, png):
    media_id = await upload(client, png(), "image/png")
    r = await client.post(f"/x/2/media/upload/{media_id}/finalize", headers=AUTH)
    data = r.json()["data"]
    assert "processing_info" not in data and data["image"] == {"image_type": "image/png", "w": 64, "h": 48}
    r = await client.post("/x/2/media/metadata", headers=AUTH,
                          json={"id": media_id, "metadata": {"alt_text": {"text": "Poster"}}})  # fmt: skip
    assert r.json() == {"data": {"id": media_id, "associated_metadata": True}}
    r = await tweet(client, "foto", media={"media_ids": [media_id]})
    assert r.status_code == 201
    [post] = (await client.get("/_sandbox/posts", params={"platform": "x"})).json()["posts"]
    assert post["media"][0]["alt_text"] == "Poster" and post["media"][0]["type"] == "photo"


async def test_video_processing_states(client, mp4):
    media_id = await upload(client, mp4, "video/mp4", "tweet_video")
    r = await client.post(f"/x/2/media/upload/{media_id}/finalize", headers=AUTH)
    info = r.json()["data"]["processing_info"]
    assert info["state"] == "pending" and info["check_after_secs"] >= 1
    r = await tweet(client, "terlalu cepat", media={"media_ids": [media_id]})
    assert r.status_code == 400  # not processed yet
    await asyncio.sleep(0.35)
    r = await client.get("/x/2/media/upload", params={"media_id": media_id, "command": "STATUS"}, headers=AUTH)
    assert r.json()["data"]["processing_info"] == {"state": "succeeded", "progress_percent": 100}
    assert (await tweet(client, "video", media={"media_ids": [media_id]})).status_code == 201


async def test_video_processing_failure_and_size_mismatch(client, png):
    media_id = await upload(client, png(), "video/mp4", "tweet_video")
    await client.post(f"/x/2/media/upload/{media_id}/finalize", headers=AUTH)
    await asyncio.sleep(0.35)
    r = await client.get("/x/2/media/upload", params={"media_id": media_id, "command": "STATUS"}, headers=AUTH)
    info = r.json()["data"]["processing_info"]
    assert info["state"] == "failed" and info["error"]["name"] == "InvalidMedia"
    r = await client.post("/x/2/media/upload/initialize", json={"media_type": "image/png", "total_bytes": 10},
                          headers=AUTH)  # fmt: skip
    short = r.json()["data"]["id"]
    r = await client.post(f"/x/2/media/upload/{short}/finalize", headers=AUTH)
    assert r.status_code == 400 and "Segments do not add up" in r.json()["errors"][0]["message"]
    r = await client.post("/x/2/media/upload/initialize", json={"media_type": "image/png", "total_bytes": 6 * 2**20},
                          headers=AUTH)  # fmt: skip
    assert r.status_code == 400


async def test_oauth2_refresh_rotates(client):
    form = {"grant_type": "refresh_token", "refresh_token": "perpuskota.rt", "client_id": "app"}
    r = await client.post("/x/2/oauth2/token", data=form)
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "bearer" and body["expires_in"] == 7200
    assert body["access_token"].startswith("perpuskota.") and body["refresh_token"] != "perpuskota.rt"
    r = await client.post("/x/2/oauth2/token", data=form)
    assert r.status_code == 400 and r.json() == {"error": "invalid_request",
                                                 "error_description": "Value passed for the token was invalid."}
    r = await client.post("/x/2/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "a.b"})
    assert r.status_code == 400 and "client_id" in r.json()["error_description"]
    me = await client.get("/x/2/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["data"]["username"] == "perpuskota"


async def test_tokens_expire_with_the_clock(client):
    assert (await client.get("/x/2/users/me", headers=AUTH)).status_code == 200
    await client.put("/_sandbox/clock", json={"advance_seconds": 7201})
    assert (await client.get("/x/2/users/me", headers=AUTH)).status_code == 401


async def test_metrics_grow_and_missing_tweets(client):
    tweet_id = (await tweet(client, "metrik")).json()["data"]["id"]
    fields = {"tweet.fields": "public_metrics"}
    first = (await client.get(f"/x/2/tweets/{tweet_id}", params=fields, headers=AUTH)).json()["data"]["public_metrics"]
    await client.put("/_sandbox/clock", json={"advance_seconds": 86400})
    other = {"Authorization": "Bearer perpuskota.next"}
    later = (await client.get(f"/x/2/tweets/{tweet_id}", params=fields, headers=other)).json()["data"]["public_metrics"]
    assert later["impression_count"] > first["impression_count"] >= 0
    r = await client.get("/x/2/tweets/1", headers=other)
    assert r.status_code == 200 and r.json()["errors"][0]["title"] == "Not Found Error"


async def test_faults_use_x_shapes(client):
    await client.put("/_sandbox/faults", json={"platform": "x", "sequence": ["500", "502", "429", "interrupt"]})
    r = await tweet(client, "a")
    assert r.status_code == 500 and r.json()["title"] == "Internal Server Error"
    r = await tweet(client, "b")
    assert r.status_code == 502 and "nginx" in r.text
    r = await tweet(client, "c")
    assert r.status_code == 429 and r.json()["errors"][0]["code"] == 88
    with pytest.raises(ConnectionCut):
        await tweet(client, "d")
    assert (await client.get("/_sandbox/posts", params={"platform": "x"})).json()["count"] == 0


async def test_interrupt_drops_a_real_connection(live_server):
    async with httpx.AsyncClient(base_url=live_server, timeout=5) as client:
        await client.put("/_sandbox/faults", json={"platform": "x", "sequence": ["interrupt"]})
        with pytest.raises(httpx.RemoteProtocolError):
            await tweet(client, "putus")
        assert (await tweet(client, "lagi")).status_code == 201


async def test_app_wide_daily_cap_is_shared_by_every_user(client):
    await client.put("/_sandbox/limits", json={"platform": "x", "scope": "app_24h", "limit": 2, "window_seconds": 86400})
    r = await tweet(client, "satu")
    assert r.status_code == 201 and r.headers["x-app-limit-24hour-remaining"] == "1"
    assert r.headers["x-app-limit-24hour-limit"] == "2" and "x-user-limit-24hour-remaining" not in r.headers
    other = {"Authorization": "Bearer lain.x-token"}
    assert (await tweet(client, "dua", headers=other)).headers["x-app-limit-24hour-remaining"] == "0"
    r = await tweet(client, "tiga", headers=other)
    assert r.status_code == 429 and r.json()["errors"][0]["code"] == 88
    assert r.headers["x-app-limit-24hour-remaining"] == "0"
    assert int(r.headers["x-app-limit-24hour-reset"]) > datetime.now(UTC).timestamp()
    assert (await tweet(client, "empat")).status_code == 429  # every user of the app
    assert (await client.get("/_sandbox/posts", params={"platform": "x"})).json()["count"] == 2


async def test_free_tier_app_may_post_but_not_read(client):
    free = {"Authorization": "Bearer freetier.x-token"}
    r = await tweet(client, "boleh", headers=free)
    assert r.status_code == 201
    me = (await client.get("/x/2/users/me", headers=free)).json()["data"]
    for path in (f"/x/2/users/{me['id']}/tweets", f"/x/2/tweets/{r.json()['data']['id']}"):
        denied = await client.get(path, headers=free)
        assert denied.status_code == 403, path
        assert denied.json()["reason"] == "client-not-enrolled" and denied.json()["title"] == "Client Forbidden"
