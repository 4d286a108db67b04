"""The scheduler's HTTP API in-process, against the real database and broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from siar_contracts import AccountRegistered
from siar_runtime.db import connect
from siar_scheduler import accounts as read_model
from siar_scheduler.app import create_app
from siar_scheduler.settings import SchedulerSettings

TOKEN = "scheduler-test-token"


@pytest.fixture
async def client(clean_db, amqp_url):
    settings = SchedulerSettings(
        database_url=clean_db, amqp_url=amqp_url, api_tokens=f"{TOKEN}:admin", environment="test"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://scheduler", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as client:
            yield client


@pytest.fixture
async def account_ids(clean_db):
    conn = await connect(clean_db, "scheduler")
    ids = {}
    for platform, handle, limits in (
        ("mastodon", "@perpus@mastodon.social", {"max_characters": 500}),
        ("telegram", "@perpus_palembang", {}),
        ("x", "@perpus", {}),
    ):
        account_id = str(uuid.uuid4())
        await read_model.upsert(conn, AccountRegistered(account_id=account_id, platform=platform, handle=handle,
                                                        status="active", limits=limits))
        ids[platform] = account_id
    await conn.close()
    return ids


def later(seconds: int = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_requests_without_a_known_token_are_refused_with_problem_details(client):
    response = await client.get("/v1/posts", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not authenticated"
    response = await client.get("/v1/posts", headers={"Authorization": "Bearer wrong-token-123"})
    assert response.status_code == 401


async def test_create_read_and_list_a_post(client, account_ids):
    response = await client.post("/v1/posts", json={
        "text": "Selamat Hari Buku Nasional!",
        "targets": [account_ids["mastodon"], account_ids["telegram"]],
        "scheduled_at": "2030-05-17T09:00:00",
        "timezone": "Asia/Jakarta",
    })
    assert response.status_code == 201, response.text
    post = response.json()
    assert post["scheduled_at"].startswith("2030-05-17T02:00:00")
    assert post["scheduled_local"].startswith("2030-05-17T09:00:00+07:00")
    assert {t["platform"] for t in post["targets"]} == {"mastodon", "telegram"}
    assert {t["status"] for t in post["targets"]} == {"scheduled"}

    read = await client.get(f"/v1/posts/{post['post_id']}")
    assert read.json() == post

    inside = await client.get("/v1/posts", params={"from": "2030-05-17T00:00:00Z", "to": "2030-05-18T00:00:00Z"})
    assert [p["post_id"] for p in inside.json()["posts"]] == [post["post_id"]]
    outside = await client.get("/v1/posts", params={"from": "2030-05-18T00:00:00Z"})
    assert outside.json()["posts"] == []
    # Days without an offset are the library's (SIAR_TIMEZONE, Asia/Jakarta): 09:00 there is on the 17th.
    local = await client.get("/v1/posts", params={"from": "2030-05-17", "to": "2030-05-17"})  # that one day
    assert [p["post_id"] for p in local.json()["posts"]] == [post["post_id"]]
    assert (await client.get("/v1/posts", params={"from": "2030-05-17T09:00:01", "to": "2030-05-18"})).json()["posts"] == []
    assert (await client.get("/v1/posts", params={"from": "2030-05-16", "to": "2030-05-16"})).json()["posts"] == []
    unreadable = await client.get("/v1/posts", params={"from": "17/05/2030"})
    assert unreadable.status_code == 422 and "is not a day (2026-12-05)" in unreadable.json()["detail"]


async def test_a_local_time_without_a_zone_is_the_librarys(client, account_ids):
    made = await client.post("/v1/posts", json={"text": "Jam lokal", "targets": [account_ids["telegram"]],
                                                "scheduled_at": "2030-06-01T09:00:00"})
    assert made.status_code == 201, made.text
    assert made.json()["scheduled_at"].startswith("2030-06-01T02:00:00") and made.json()["timezone"] == "Asia/Jakarta"
    moved = await client.patch(f"/v1/posts/{made.json()['post_id']}", json={"scheduled_at": "2030-06-02T10:00:00"})
    assert moved.json()["scheduled_local"].startswith("2030-06-02T10:00:00+07:00"), moved.text
    # A post written with an offset has no zone of its own: a local time moving it is the library's.
    offset = await client.post("/v1/posts", json={"text": "Dengan offset", "targets": [account_ids["telegram"]],
                                                  "scheduled_at": "2030-06-01T09:00:00+00:00"})
    assert offset.json()["timezone"] is None
    later_local = await client.patch(f"/v1/posts/{offset.json()['post_id']}", json={"scheduled_at": "2030-06-03T08:00:00"})
    assert later_local.status_code == 200, later_local.text
    assert later_local.json()["scheduled_at"].startswith("2030-06-03T01:00:00")
    # WIB, WITA and WIT as people write them, as in CSV import.
    wita = await client.post("/v1/posts", json={"text": "Jam Makassar", "targets": [account_ids["telegram"]],
                                                "scheduled_at": "2030-06-01T09:00:00", "timezone": "wita"})
    assert wita.status_code == 201, wita.text
    assert wita.json()["timezone"] == "Asia/Makassar" and wita.json()["scheduled_at"].startswith("2030-06-01T01:00:00")


async def test_accounts_may_be_named_as_people_name_them(client, account_ids):
    # As in the CLI and CSV import: a platform with one account, a handle, platform:handle.
    made = await client.post("/v1/posts", json={"text": "Halo", "scheduled_at": "2030-06-01T09:00:00",
                                                "targets": ["telegram", "@perpus", "mastodon:perpus@mastodon.social"]})
    assert made.status_code == 201, made.text
    assert sorted(t["account_id"] for t in made.json()["targets"]) == sorted(account_ids.values())
    twice = await client.post("/v1/posts", json={"text": "Halo", "scheduled_at": "2030-06-01T09:00:00",
                                                 "targets": ["telegram", account_ids["telegram"]]})
    assert twice.status_code == 422 and "named once" in twice.json()["detail"]
    unknown = await client.post("/v1/posts", json={"text": "Halo", "scheduled_at": "2030-06-01T09:00:00",
                                                   "targets": ["perpustakaan_lain"]})
    assert unknown.status_code == 422 and "no connected account perpustakaan_lain" in unknown.json()["detail"]


async def test_a_time_in_the_past_is_said_as_it_was_written(client, account_ids):
    body = {"text": "Terlambat", "targets": [account_ids["telegram"]]}
    local = await client.post("/v1/posts", json={**body, "scheduled_at": "2020-01-01T08:00:00", "timezone": "Asia/Jakarta"})
    assert local.status_code == 422
    assert local.json()["detail"].startswith("2020-01-01 08:00 Asia/Jakarta is in the past (")
    assert "days ago); a post may be at most" in local.json()["detail"]
    utc = await client.post("/v1/posts", json={**body, "scheduled_at": "2020-01-01T01:00:00Z"})
    assert utc.json()["detail"].startswith("2020-01-01 01:00 UTC+0000 is in the past (")


async def test_listing_pages_with_a_cursor(client, account_ids):
    for i in range(5):
        await client.post("/v1/posts", json={"text": f"post {i}", "targets": [account_ids["telegram"]],
                                             "scheduled_at": later(3600 + i)})
    first = (await client.get("/v1/posts", params={"limit": 3})).json()
    second = (await client.get("/v1/posts", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    texts = [p["text"] for p in first["posts"] + second["posts"]]
    assert texts == [f"post {i}" for i in range(5)]
    assert second["next_cursor"] is None
    bad = await client.get("/v1/posts", params={"cursor": "nonsense"})
    assert bad.status_code == 400


async def test_the_same_idempotency_key_creates_one_post(client, account_ids):
    body = {"text": "Sekali saja", "targets": [account_ids["telegram"]], "scheduled_at": later()}
    first = await client.post("/v1/posts", json=body, headers={"Idempotency-Key": "k-1"})
    again = await client.post("/v1/posts", json=body, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["post_id"] == again.json()["post_id"]


@pytest.mark.parametrize(
    ("patch", "detail"),
    [
        ({"scheduled_at": "2030-01-01T09:00:00", "timezone": "Mars/Olympus"}, "IANA"),
        ({"scheduled_at": "2020-01-01T09:00:00Z"}, "in the past"),
    ],
)
async def test_bad_times_are_refused_before_anything_is_stored(client, account_ids, patch, detail):
    body = {"text": "x", "targets": [account_ids["telegram"]]} | patch
    response = await client.post("/v1/posts", json=body)
    assert response.status_code == 422
    assert detail in response.json()["detail"]
    assert (await client.get("/v1/posts")).json()["posts"] == []


async def test_unknown_accounts_and_malformed_bodies_say_what_is_wrong(client, account_ids):
    response = await client.post("/v1/posts", json={"text": "x", "targets": ["nope"], "scheduled_at": later()})
    assert response.status_code == 422
    assert response.json()["targets"] == ["nope"]
    response = await client.post("/v1/posts", json={"text": "x", "targets": [], "scheduled_at": later()})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "targets"
    response = await client.post("/v1/posts", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_content_that_a_platform_would_refuse_is_refused_naming_target_and_rule(client, account_ids):
    text = "Perpustakaan " * 40  # 520 characters: fine on Telegram, too long for Mastodon (500)
    response = await client.post("/v1/posts", json={
        "text": text, "targets": [account_ids["telegram"], account_ids["mastodon"]], "scheduled_at": later(),
    })
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Content not accepted"
    [violation] = problem["violations"]
    assert violation["target"] == account_ids["mastodon"]
    assert violation["rule"] == "text_too_long"
    assert (violation["actual"], violation["limit"]) == (520, 500)
    assert (await client.get("/v1/posts")).json()["posts"] == []


async def test_edit_then_cancel_before_it_is_due(client, account_ids):
    post = (await client.post("/v1/posts", json={
        "text": "Draf", "targets": [account_ids["telegram"]], "scheduled_at": later(),
    })).json()
    edited = await client.patch(f"/v1/posts/{post['post_id']}", json={"text": "Final", "scheduled_at": later(7200)})
    assert edited.status_code == 200, edited.text
    assert edited.json()["text"] == "Final"
    assert edited.json()["version"] == 2
    assert edited.json()["targets"][0]["due_at"] == edited.json()["scheduled_at"]

    cancelled = await client.post(f"/v1/posts/{post['post_id']}/cancel", json={"reason": "acara batal"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["targets"][0]["reason"] == "acara batal"

    again = await client.post(f"/v1/posts/{post['post_id']}/cancel")
    assert again.status_code == 409
    edit_after = await client.patch(f"/v1/posts/{post['post_id']}", json={"text": "x"})
    assert edit_after.status_code == 409
    missing = await client.get(f"/v1/posts/{uuid.uuid4()}")
    assert missing.status_code == 404
