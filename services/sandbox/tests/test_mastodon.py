"""Mastodon statuses, accounts, auth, idempotency and rate limits, over the real app."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

STATUSES = "/mastodon/api/v1/statuses"
ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ISO_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def posts(client: httpx.AsyncClient, **params: str) -> list[dict]:
    r = await client.get("/_sandbox/posts", params=params)
    assert r.status_code == 200
    return r.json()["posts"]


async def test_instance_is_public_and_describes_limits(client):
    r = await client.get("/mastodon/api/v2/instance")
    assert r.status_code == 200
    config = r.json()["configuration"]
    assert config["statuses"] == {
        "max_characters": 500,
        "max_media_attachments": 4,
        "characters_reserved_per_url": 23,
    }
    assert config["media_attachments"]["image_size_limit"] == 10_485_760
    assert config["media_attachments"]["video_size_limit"] == 41_943_040
    assert "image/png" in config["media_attachments"]["supported_mime_types"]
    assert r.headers["x-ratelimit-limit"] == "1000000"
    assert ISO_MICROS.match(r.headers["x-ratelimit-reset"])


async def test_post_status_json_returns_a_faithful_status(client, auth):
    r = await client.post(
        STATUSES,
        headers=auth,
        json={"status": "Halo <dunia> & 'teman'\n\nBaris dua\nbaris tiga", "language": "id"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    status = r.json()
    assert status["id"].isdigit() and len(status["id"]) >= 17
    assert ISO_MILLIS.match(status["created_at"])
    assert status["content"] == (
        "<p>Halo &lt;dunia&gt; &amp; &#39;teman&#39;</p><p>Baris dua<br />baris tiga</p>"
    )
    assert status["url"] == f"http://sandbox/mastodon/@library/{status['id']}"
    assert status["uri"] == f"http://sandbox/mastodon/users/library/statuses/{status['id']}"
    assert status["visibility"] == "public"
    assert status["sensitive"] is False
    assert status["spoiler_text"] == ""
    assert status["language"] == "id"
    assert status["in_reply_to_id"] is None
    assert status["edited_at"] is None
    for key in ("replies_count", "reblogs_count", "favourites_count"):
        assert status[key] == 0
    for key in ("media_attachments", "mentions", "tags", "emojis"):
        assert status[key] == []
    account = status["account"]
    assert account["username"] == "library"
    assert account["acct"] == "library"
    assert account["url"] == "http://sandbox/mastodon/@library"
    assert account["statuses_count"] == 1
    assert isinstance(account["followers_count"], int)
    assert status["card"] is None and status["poll"] is None


async def test_post_status_as_form_and_multipart(client, auth):
    r1 = await client.post(
        STATUSES,
        headers=auth,
        data={
            "status": "lewat form",
            "visibility": "unlisted",
            "sensitive": "true",
            "spoiler_text": "cw",
        },
    )
    assert r1.status_code == 200, r1.text
    assert r1.json()["visibility"] == "unlisted"
    assert r1.json()["sensitive"] is True
    assert r1.json()["spoiler_text"] == "cw"
    r2 = await client.post(
        STATUSES,
        headers=auth,
        files={"status": (None, "lewat multipart"), "visibility": (None, "private")},
    )
    assert r2.status_code == 200, r2.text
    assert r2.json()["content"] == "<p>lewat multipart</p>"
    assert r2.json()["visibility"] == "private"
    assert int(r2.json()["id"]) > int(r1.json()["id"])


async def test_username_comes_from_the_token(client):
    r = await client.post(
        STATUSES, headers={"Authorization": "Bearer nodots"}, json={"status": "x"}
    )
    assert r.json()["account"]["username"] == "sandbox"
    r = await client.post(
        STATUSES, headers={"Authorization": "Bearer perpus_kota.abc.def"}, json={"status": "x"}
    )
    assert r.json()["account"]["username"] == "perpus_kota"
    assert [p["account"] for p in await posts(client)] == ["sandbox", "perpus_kota"]


async def test_links_hashtags_and_mentions(client, auth):
    await client.get(
        "/mastodon/api/v1/accounts/verify_credentials", headers={"Authorization": "Bearer budi.x"}
    )
    r = await client.post(
        STATUSES,
        headers=auth,
        json={
            "status": "Baca https://perpus.example.id/acara #LiterasiDigital @budi @nobody@remote.example"
        },
    )
    status = r.json()
    assert [t["name"] for t in status["tags"]] == ["LiterasiDigital"]
    assert [m["acct"] for m in status["mentions"]] == ["budi"]
    assert 'href="https://perpus.example.id/acara"' in status["content"]
    assert 'class="mention hashtag"' in status["content"]
    assert "@nobody@remote.example" in status["content"]


async def test_idempotency_key_replays_the_same_status(client, auth):
    headers = {**auth, "Idempotency-Key": "post-42-mastodon"}
    r1 = await client.post(STATUSES, headers=headers, json={"status": "Sekali saja"})
    r2 = await client.post(STATUSES, headers=headers, json={"status": "Sekali saja"})
    r3 = await client.post(STATUSES, headers=headers, data={"status": "different body"})
    assert r1.status_code == r2.status_code == r3.status_code == 200
    assert r1.json()["id"] == r2.json()["id"] == r3.json()["id"]
    assert r3.json()["content"] == "<p>Sekali saja</p>"
    recorded = await posts(client)
    assert len(recorded) == 1
    assert recorded[0]["idempotency_key"] == "post-42-mastodon"
    other_key = await client.post(
        STATUSES, headers={**auth, "Idempotency-Key": "other"}, json={"status": "Sekali saja"}
    )
    other_account = await client.post(
        STATUSES,
        headers={"Authorization": "Bearer museum.t", "Idempotency-Key": "post-42-mastodon"},
        json={"status": "Sekali saja"},
    )
    assert len({r1.json()["id"], other_key.json()["id"], other_account.json()["id"]}) == 3
    assert len(await posts(client)) == 3


async def test_validation_errors(client, auth):
    r = await client.post(STATUSES, headers=auth, json={"status": "   "})
    assert r.status_code == 422
    assert r.json() == {"error": "Validation failed: Text can't be blank"}
    r = await client.post(STATUSES, headers=auth, json={"status": "a" * 501})
    assert r.status_code == 422
    assert r.json() == {"error": "Validation failed: Text character limit of 500 exceeded"}
    assert (
        await client.post(STATUSES, headers=auth, json={"status": "a" * 500})
    ).status_code == 200
    r = await client.post(STATUSES, headers=auth, json={"status": "x", "visibility": "everyone"})
    assert r.status_code == 422
    r = await client.post(STATUSES, headers=auth, json={"status": "x", "media_ids": ["123"]})
    assert r.status_code == 422
    assert r.json() == {"error": "Media 123 not found or already attached to another post"}
    r = await client.post(
        STATUSES, headers=auth, json={"status": "x", "media_ids": ["1", "2", "3", "4", "5"]}
    )
    assert r.json() == {"error": "Cannot attach more than 4 files"}
    r = await client.post(STATUSES, headers=auth, json={"status": "x", "in_reply_to_id": "999"})
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    assert len(await posts(client)) == 1


async def test_character_counting_like_mastodon(client, auth):
    url = "https://example.com/" + "p" * 200
    text = url + " " + "a" * 476  # the URL counts 23: 23 + 1 + 476 = 500
    assert (await client.post(STATUSES, headers=auth, json={"status": text})).status_code == 200
    assert (
        await client.post(STATUSES, headers=auth, json={"status": text + "a"})
    ).status_code == 422
    mention = "@someone@a-very-long-domain.example.org"  # counts as "@someone"
    text = mention + " " + "b" * (500 - len("@someone") - 1)
    assert (await client.post(STATUSES, headers=auth, json={"status": text})).status_code == 200
    emoji = "👩‍👩‍👧‍👦" * 500  # one family emoji is one character
    assert (await client.post(STATUSES, headers=auth, json={"status": emoji})).status_code == 200
    r = await client.post(
        STATUSES, headers=auth, json={"status": "c" * 490, "spoiler_text": "d" * 11}
    )
    assert r.status_code == 422  # the content warning counts too


async def test_auth_errors(client, auth):
    r = await client.post(STATUSES, json={"status": "x"})
    assert r.status_code == 401
    assert r.json() == {"error": "The access token is invalid"}
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    r = await client.post(
        STATUSES, headers={"Authorization": "Bearer revoked.lib"}, json={"status": "x"}
    )
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}
    r = await client.get(
        "/mastodon/api/v1/accounts/verify_credentials", headers={"Authorization": "Bearer "}
    )
    assert r.status_code == 401
    r = await client.post(
        "/_sandbox/tokens/revoke", json={"platform": "mastodon", "token": "library.secret"}
    )
    assert r.status_code == 200
    r = await client.post(STATUSES, headers=auth, json={"status": "x"})
    assert r.status_code == 401 and r.json() == {"error": "The access token was revoked"}
    r = await client.post(
        STATUSES, headers={"Authorization": "Bearer library.other"}, json={"status": "x"}
    )
    assert r.status_code == 200
    assert (
        await client.post(
            "/_sandbox/tokens/restore", json={"platform": "mastodon", "token": "library.secret"}
        )
    ).status_code == 200
    assert (await client.post(STATUSES, headers=auth, json={"status": "y"})).status_code == 200


async def test_forbidden_tokens(client, png):
    readonly = {"Authorization": "Bearer readonly.secret"}
    verify = "/mastodon/api/v1/accounts/verify_credentials"
    assert (await client.get(verify, headers=readonly)).status_code == 200
    for r in (
        await client.post(STATUSES, headers=readonly, json={"status": "x"}),
        await client.post(
            "/mastodon/api/v2/media",
            headers=readonly,
            files={"file": ("a.png", png(), "image/png")},
        ),
    ):
        assert r.status_code == 403
        assert r.json() == {"error": "This action is outside the authorized scopes"}
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    disabled = {"Authorization": "Bearer disabled.secret"}
    for r in (
        await client.get(verify, headers=disabled),
        await client.post(STATUSES, headers=disabled, json={"status": "x"}),
    ):
        assert r.status_code == 403 and r.json() == {"error": "Your login is currently disabled"}
    assert (await client.get("/_sandbox/posts")).json()["count"] == 0


async def test_get_and_delete_status(client, auth):
    created = (await client.post(STATUSES, headers=auth, json={"status": "hapus aku"})).json()
    r = await client.get(f"{STATUSES}/{created['id']}", headers=auth)
    assert r.status_code == 200 and r.json()["id"] == created["id"]
    assert (await client.get(f"{STATUSES}/{created['id']}")).status_code == 200  # public, anonymous
    r = await client.delete(
        f"{STATUSES}/{created['id']}", headers={"Authorization": "Bearer other.x"}
    )
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    r = await client.delete(f"{STATUSES}/{created['id']}", headers=auth)
    assert r.status_code == 200
    assert r.json()["text"] == "hapus aku" and "content" not in r.json()
    r = await client.get(f"{STATUSES}/{created['id']}", headers=auth)
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    assert (await client.get(f"{STATUSES}/12345", headers=auth)).status_code == 404
    assert (await posts(client))[0]["deleted"] is True


async def test_replies(client, auth):
    parent = (await client.post(STATUSES, headers=auth, json={"status": "induk"})).json()
    reply = (
        await client.post(
            STATUSES, headers=auth, json={"status": "balasan", "in_reply_to_id": parent["id"]}
        )
    ).json()
    assert reply["in_reply_to_id"] == parent["id"]
    assert reply["in_reply_to_account_id"] == parent["account"]["id"]
    assert (await client.get(f"{STATUSES}/{parent['id']}", headers=auth)).json()[
        "replies_count"
    ] == 1


async def test_verify_credentials_and_account_statuses(client, auth):
    me = await client.get("/mastodon/api/v1/accounts/verify_credentials", headers=auth)
    assert me.status_code == 200
    account = me.json()
    assert account["username"] == "library" and "source" in account
    ids = []
    for i in range(5):
        r = await client.post(STATUSES, headers=auth, json={"status": f"status {i}"})
        ids.append(r.json()["id"])
    await client.post(STATUSES, headers=auth, json={"status": "rahasia", "visibility": "private"})
    path = f"/mastodon/api/v1/accounts/{account['id']}/statuses"
    r = await client.get(path, headers=auth, params={"limit": 2})
    assert r.status_code == 200
    page = r.json()
    assert [s["content"] for s in page] == ["<p>rahasia</p>", "<p>status 4</p>"]
    assert 'rel="next"' in r.headers["link"] and f"max_id={page[-1]['id']}" in r.headers["link"]
    r = await client.get(path, headers=auth, params={"limit": 2, "max_id": page[-1]["id"]})
    assert [s["id"] for s in r.json()] == [ids[3], ids[2]]
    r = await client.get(path, headers=auth, params={"since_id": ids[2]})
    assert [s["id"] for s in r.json()][-2:] == [ids[4], ids[3]]
    r = await client.get(path, headers=auth, params={"min_id": ids[0], "limit": 2})
    assert [s["id"] for s in r.json()] == [ids[2], ids[1]]
    anonymous = await client.get(path)
    assert anonymous.status_code == 200
    assert "<p>rahasia</p>" not in [s["content"] for s in anonymous.json()]
    assert len((await client.get(path, headers=auth, params={"limit": 100})).json()) == 6
    me = await client.get("/mastodon/api/v1/accounts/verify_credentials", headers=auth)
    assert me.json()["statuses_count"] == 6
    assert (
        await client.get("/mastodon/api/v1/accounts/1/statuses", headers=auth)
    ).status_code == 404


async def test_rate_limit_headers_and_429(client, auth):
    r = await client.put(
        "/_sandbox/limits", json={"platform": "mastodon", "limit": 3, "window_seconds": 300}
    )
    assert r.status_code == 200
    remaining = []
    for _ in range(3):
        r = await client.post(STATUSES, headers=auth, json={"status": "x"})
        assert r.status_code == 200
        assert r.headers["x-ratelimit-limit"] == "3"
        remaining.append(r.headers["x-ratelimit-remaining"])
    assert remaining == ["2", "1", "0"]
    r = await client.post(STATUSES, headers=auth, json={"status": "x"})
    assert r.status_code == 429
    assert r.json() == {"error": "Too many requests"}
    assert r.headers["x-ratelimit-remaining"] == "0"
    reset = r.headers["x-ratelimit-reset"]
    assert ISO_MICROS.match(reset)
    wait = (datetime.fromisoformat(reset) - datetime.now(UTC)).total_seconds()
    assert 0 < wait <= 300
    # GETs count too (Rack::Attack throttles every API request per token); other tokens do not.
    assert (
        await client.get("/mastodon/api/v1/accounts/verify_credentials", headers=auth)
    ).status_code == 429
    other = await client.post(
        STATUSES, headers={"Authorization": "Bearer library.two"}, json={"status": "x"}
    )
    assert other.status_code == 200
    assert len(await posts(client)) == 4


async def test_statuses_family_limit(client, auth):
    r = await client.put(
        "/_sandbox/limits",
        json={"platform": "mastodon", "scope": "statuses", "limit": 2, "window_seconds": 10800},
    )
    assert r.status_code == 200
    first = await client.post(STATUSES, headers=auth, json={"status": "1"})
    assert (
        first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
    )
    assert (await client.post(STATUSES, headers=auth, json={"status": "2"})).status_code == 200
    r = await client.post(STATUSES, headers=auth, json={"status": "3"})
    assert r.status_code == 429 and r.json() == {"error": "Too Many Requests"}
    assert r.headers["x-ratelimit-remaining"] == "0"


async def test_unknown_api_path_and_status_page(client, auth):
    r = await client.get("/mastodon/api/v1/nothing/here", headers=auth)
    assert r.status_code == 404 and r.json() == {"error": "Not Found"}
    status = (await client.post(STATUSES, headers=auth, json={"status": "lihat aku"})).json()
    page = await client.get(status["url"].removeprefix("http://sandbox"))
    assert page.status_code == 200 and "lihat aku" in page.text
