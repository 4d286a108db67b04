"""The Bluesky PDS imitation over the real app: sessions with real JWTs, refresh rotation,
blobs, record validation, client-chosen record keys and their collisions, XRPC error bodies,
RateLimit-* headers, the AppView reads and counts that grow with time."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from siar_platforms import grapheme_length
from siar_sandbox import bluesky
from siar_sandbox.apikit import ConnectionCut

XRPC = "/bluesky/xrpc"
RKEY = "3l5abcdefghij"


async def login(client, identifier: str = "perpuskota", password: str = "abcd-efgh-ijkl-mnop") -> httpx.Response:
    return await client.post(f"{XRPC}/com.atproto.server.createSession",
                             json={"identifier": identifier, "password": password})  # fmt: skip


def claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def session(client) -> tuple[str, dict]:
    r = await login(client)
    body = r.json()
    return body["did"], {"Authorization": f"Bearer {body['accessJwt']}"}


async def create(client, did: str, auth: dict, record: dict | None = None, rkey: str | None = RKEY) -> httpx.Response:
    body = {"repo": did, "collection": "app.bsky.feed.post",
            "record": record or {"$type": "app.bsky.feed.post", "text": "Halo", "createdAt": "2026-11-22T08:00:00.000Z"}}  # fmt: skip
    if rkey:
        body["rkey"] = rkey
    return await client.post(f"{XRPC}/com.atproto.repo.createRecord", json=body, headers=auth)


def post_record(text: str, **extra) -> dict:
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-22T08:00:00.000Z", **extra}


async def test_sessions(client):
    r = await login(client)
    body = r.json()
    assert r.status_code == 200 and body["handle"] == "perpuskota.bsky.social" and body["did"].startswith("did:plc:")
    access, refresh = claims(body["accessJwt"]), claims(body["refreshJwt"])
    assert access["sub"] == body["did"] and access["exp"] - access["iat"] == 7200
    assert refresh["scope"] == "com.atproto.refresh" and refresh["exp"] - refresh["iat"] == 90 * 86400
    r = await client.get(f"{XRPC}/com.atproto.server.getSession", headers={"Authorization": f"Bearer {body['accessJwt']}"})
    assert r.json()["did"] == body["did"]
    r = await client.post(f"{XRPC}/com.atproto.server.refreshSession",
                          headers={"Authorization": f"Bearer {body['refreshJwt']}"})  # fmt: skip
    assert r.status_code == 200 and r.json()["refreshJwt"] != body["refreshJwt"]
    r = await client.post(f"{XRPC}/com.atproto.server.refreshSession",
                          headers={"Authorization": f"Bearer {body['refreshJwt']}"})  # fmt: skip
    assert r.status_code == 400 and r.json() == {"error": "ExpiredToken", "message": "Token has been revoked"}
    r = await client.post(f"{XRPC}/com.atproto.server.refreshSession",
                          headers={"Authorization": f"Bearer {body['accessJwt']}"})  # fmt: skip
    assert r.json()["error"] == "InvalidToken"


async def test_login_refusals(client):
    r = await login(client, password="wrong-pass")
    assert r.status_code == 401 and r.json() == {"error": "AuthenticationRequired",
                                                 "message": "Invalid identifier or password"}
    r = await login(client, identifier="takendown")
    assert r.status_code == 400 and r.json()["error"] == "AccountTakedown"
    await client.put("/_sandbox/limits", json={"platform": "bluesky", "scope": "session", "limit": 1, "window_seconds": 300})
    assert (await login(client)).status_code == 200
    r = await login(client)
    assert r.status_code == 429 and r.json()["error"] == "RateLimitExceeded" and r.headers["retry-after"]


async def test_expired_tokens(client):
    did, auth = await session(client)
    await client.put("/_sandbox/clock", json={"advance_seconds": 7201})
    r = await create(client, did, auth)
    assert r.status_code == 400 and r.json() == {"error": "ExpiredToken", "message": "Token has expired"}
    did, auth = await session(client)
    await client.post("/_sandbox/tokens/expire", json={"platform": "bluesky", "token": auth["Authorization"][7:]})
    assert (await create(client, did, auth)).json()["error"] == "ExpiredToken"
    r = await client.post(f"{XRPC}/com.atproto.repo.createRecord", json={})
    assert r.status_code == 401 and r.json()["error"] == "AuthMissing"


async def test_records_with_a_chosen_key_and_collisions(client):
    did, auth = await session(client)
    r = await create(client, did, auth)
    body = r.json()
    assert r.status_code == 200 and body["uri"] == f"at://{did}/app.bsky.feed.post/{RKEY}"
    assert body["cid"].startswith("bafyrei") and body["validationStatus"] == "valid" and body["commit"]["rev"]
    for name in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy"):
        assert name in r.headers
    again = await create(client, did, auth, post_record("Lain"))
    assert again.status_code == 500 and again.json() == {"error": "InternalServerError", "message": "Internal Server Error"}
    got = await client.get(f"{XRPC}/com.atproto.repo.getRecord",
                           params={"repo": did, "collection": "app.bsky.feed.post", "rkey": RKEY})  # fmt: skip
    assert got.json()["value"]["text"] == "Halo" and got.json()["uri"] == body["uri"]
    missing = await client.get(f"{XRPC}/com.atproto.repo.getRecord",
                               params={"repo": did, "collection": "app.bsky.feed.post", "rkey": "3l5zzzzzzzzzz"})  # fmt: skip
    assert missing.status_code == 400 and missing.json()["error"] == "RecordNotFound"
    assert missing.json()["message"] == f"Could not locate record: at://{did}/app.bsky.feed.post/3l5zzzzzzzzzz"
    generated = await create(client, did, auth, post_record("Kunci dari server"), rkey=None)
    assert generated.status_code == 200
    assert (await create(client, did, auth, rkey="not-a-tid")).status_code == 400
    [first, second] = (await client.get("/_sandbox/posts", params={"platform": "bluesky"})).json()["posts"]
    assert first["idempotency_key"] == RKEY and first["url"] == f"https://bsky.app/profile/perpuskota.bsky.social/post/{RKEY}"
    assert second["text"] == "Kunci dari server"


async def test_record_validation(client, png):
    did, auth = await session(client)

    async def refused(record: dict) -> str:
        r = await create(client, did, auth, record, rkey=None)
        assert r.status_code == 400 and r.json()["error"] == "InvalidRequest", r.text
        return r.json()["message"]

    assert "300 graphemes" in await refused(post_record("a" * 301))
    assert "3000" in await refused(post_record("é" * 1501 + "x"))  # bytes are checked before graphemes
    assert "byte range" in await refused(post_record("abc", facets=[{"index": {"byteStart": 0, "byteEnd": 9},
                                                                     "features": []}]))  # fmt: skip
    assert "createdAt" in await refused({"$type": "app.bsky.feed.post", "text": "x", "createdAt": "kemarin"})
    ghost = {"$type": "blob", "ref": {"$link": "bafkreinope"}, "mimeType": "image/png", "size": 1}
    assert "Could not find blob" in await refused(post_record("x", embed={"$type": "app.bsky.embed.images",
                                                                          "images": [{"image": ghost, "alt": ""}]}))  # fmt: skip
    blob = (await client.post(f"{XRPC}/com.atproto.repo.uploadBlob", content=png(),
                              headers={**auth, "Content-Type": "image/png"})).json()["blob"]  # fmt: skip
    assert blob["mimeType"] == "image/png" and blob["ref"]["$link"].startswith("bafkrei")
    assert "video/mp4" in await refused(post_record("x", embed={"$type": "app.bsky.embed.video", "video": blob}))
    ok = await create(client, did, auth, post_record("😀" * 300 + "👨‍👩‍👧", embed={
        "$type": "app.bsky.embed.images", "images": [{"image": blob, "alt": "Poster"}]}), rkey=None)  # fmt: skip
    assert ok.status_code == 400  # 301 graphemes: the family counts as one
    ok = await create(client, did, auth, post_record("😀" * 299 + "👨‍👩‍👧", embed={
        "$type": "app.bsky.embed.images", "images": [{"image": blob, "alt": "Poster"}]}), rkey=None)  # fmt: skip
    assert ok.status_code == 200



@pytest.mark.parametrize(
    ("at_limit", "over_limit"),
    [
        ("a" * 250 + "🇮🇩" * 50, "a" * 251 + "🇮🇩" * 50),  # a flag is one grapheme, not two
        ("क्षि" * 100 + " किताबें" + "a" * 196, "क्षि" * 100 + " किताबें" + "a" * 197),  # conjuncts and vowel signs
        ("ꦲꦏ꧀ꦱꦫ" * 100, "ꦲꦏ꧀ꦱꦫ" * 100 + "."),  # Javanese: the pangkon joins the next letter
    ],
)
async def test_text_is_counted_in_extended_grapheme_clusters(client, at_limit, over_limit):
    assert bluesky.graphemes(at_limit) == grapheme_length(at_limit) == 300
    assert bluesky.graphemes(over_limit) == grapheme_length(over_limit) == 301
    did, auth = await session(client)
    assert (await create(client, did, auth, post_record(at_limit), rkey=None)).status_code == 200
    r = await create(client, did, auth, post_record(over_limit), rkey=None)
    assert r.status_code == 400 and "300 graphemes" in r.json()["message"]


def test_graphemes():
    assert bluesky.graphemes("ꦲꦏ꧀ꦱꦫ") == 3
    assert bluesky.graphemes("क्षि" * 100 + " किताबें") == 104
    assert bluesky.graphemes("🇮🇩🇲🇾") == 2 and bluesky.graphemes("👨‍👩‍👧‍👦") == 1 and bluesky.graphemes("e\u0301") == 1


async def test_rate_limits_and_faults(client):
    did, auth = await session(client)
    await client.put("/_sandbox/limits", json={"platform": "bluesky", "scope": "account", "limit": 1, "window_seconds": 300})
    assert (await create(client, did, auth)).headers["ratelimit-remaining"] == "0"
    r = await create(client, did, auth, rkey="3l5abcdefghik")
    assert r.status_code == 429 and r.json() == {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
    assert r.headers["ratelimit-policy"] == "1;w=300" and int(r.headers["retry-after"]) <= 300
    await client.delete("/_sandbox/limits")
    await client.put("/_sandbox/faults", json={"platform": "bluesky", "sequence": ["429", "503", "interrupt"],
                                               "retry_after_seconds": 11})  # fmt: skip
    r = await create(client, did, auth, rkey="3l5abcdefghil")
    assert r.status_code == 429 and r.headers["retry-after"] == "11"
    r = await create(client, did, auth, rkey="3l5abcdefghil")
    assert r.status_code == 503 and r.json()["error"] == "NotEnoughResources"
    with pytest.raises(ConnectionCut):
        await create(client, did, auth, rkey="3l5abcdefghil")
    assert (await create(client, did, auth, rkey="3l5abcdefghil")).status_code == 200


async def test_appview_counts_grow(client):
    did, auth = await session(client)
    uri = (await create(client, did, auth)).json()["uri"]
    r = await client.get(f"{XRPC}/app.bsky.feed.getPosts", params={"uris": [uri, "at://did:plc:x/app.bsky.feed.post/y"]})
    [view] = r.json()["posts"]
    assert view["author"]["handle"] == "perpuskota.bsky.social" and view["record"]["text"] == "Halo"
    first = {k: view[k] for k in ("likeCount", "repostCount", "replyCount", "quoteCount", "bookmarkCount")}
    profile = (await client.get(f"{XRPC}/app.bsky.actor.getProfile", params={"actor": "perpuskota.bsky.social"})).json()
    assert profile["did"] == did and profile["postsCount"] == 1
    await client.put("/_sandbox/clock", json={"advance_seconds": 5 * 86400})
    later = (await client.get(f"{XRPC}/app.bsky.feed.getPosts", params={"uris": uri})).json()["posts"][0]
    assert later["likeCount"] > first["likeCount"]
    grown = (await client.get(f"{XRPC}/app.bsky.actor.getProfile", params={"actor": did})).json()
    assert grown["followersCount"] > profile["followersCount"]
    r = await client.get(f"{XRPC}/com.atproto.identity.resolveHandle", params={"handle": "teman.bsky.social"})
    assert r.json()["did"].startswith("did:plc:")
    r = await client.get(f"{XRPC}/com.atproto.identity.resolveHandle", params={"handle": "unknown.example.com"})
    assert r.status_code == 400
