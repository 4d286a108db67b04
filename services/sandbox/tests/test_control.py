"""The control and inspection API: listing, stats, reset and validation of control input."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import pytest

STATUSES = "/mastodon/api/v1/statuses"
ISO_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def assert_problem(r, status: int, pointer: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    if pointer is not None:
        assert pointer in [e["pointer"] for e in body["errors"]], body
    return body


async def test_posts_listing_and_filters(client, auth, tg):
    await client.post(STATUSES, headers=auth, json={"status": "pertama"})
    await asyncio.sleep(0.01)
    middle = datetime.now(UTC).isoformat()
    await client.post(f"{tg}/sendMessage", json={"chat_id": "@kanal", "text": "kedua"})
    await client.post(
        STATUSES, headers={"Authorization": "Bearer museum.x"}, json={"status": "ketiga"}
    )

    everything = (await client.get("/_sandbox/posts")).json()
    assert everything["count"] == 3
    post = everything["posts"][0]
    assert set(post) >= {
        "platform",
        "account",
        "id",
        "text",
        "media",
        "idempotency_key",
        "received_at",
        "url",
    }
    assert ISO_MICROS.match(post["received_at"])
    assert [p["text"] for p in everything["posts"]] == ["pertama", "kedua", "ketiga"]

    mastodon = (await client.get("/_sandbox/posts", params={"platform": "mastodon"})).json()
    assert [p["account"] for p in mastodon["posts"]] == ["library", "museum"]
    museum = (await client.get("/_sandbox/posts", params={"account": "museum"})).json()
    assert museum["count"] == 1
    later = (await client.get("/_sandbox/posts", params={"since": middle})).json()
    assert [p["text"] for p in later["posts"]] == ["kedua", "ketiga"]
    zulu = middle.replace("+00:00", "Z")
    assert (await client.get("/_sandbox/posts", params={"since": zulu})).json()["count"] == 2
    assert (await client.get("/_sandbox/posts", params={"limit": "1"})).json()["count"] == 1

    assert_problem(
        await client.get("/_sandbox/posts", params={"since": "yesterday"}), 400, "?since"
    )
    assert_problem(
        await client.get("/_sandbox/posts", params={"platform": "myspace"}), 400, "?platform"
    )


async def test_stats_counts_and_duplicates(client, auth, tg):
    for key in ("a", "b"):
        await client.post(
            STATUSES, headers={**auth, "Idempotency-Key": key}, json={"status": "Sama"}
        )
    await client.post(
        STATUSES, headers={**auth, "Idempotency-Key": "a"}, json={"status": "Sama"}
    )  # replay
    await client.post(STATUSES, headers=auth, json={"status": "Beda"})
    await client.post(STATUSES, headers=auth, json={"status": ""})  # 422
    await client.post(f"{tg}/sendMessage", json={"chat_id": "@kanal", "text": "halo"})
    stats = (await client.get("/_sandbox/stats")).json()
    assert stats["posts"]["total"] == 4
    assert stats["posts"]["by_platform"] == {"mastodon": 3, "telegram": 1}
    assert stats["posts"]["by_account"] == {"mastodon": {"library": 3}, "telegram": {"@kanal": 1}}
    assert stats["requests"]["by_platform"]["mastodon"] == {"200": 4, "422": 1}
    assert stats["requests"]["by_platform"]["telegram"] == {"200": 1}
    library = stats["duplicates"]["mastodon"]["library"]
    assert (
        library["posts"] == 3 and library["distinct_texts"] == 2 and library["duplicate_posts"] == 1
    )
    assert library["repeated_texts"] == [{"text": "Sama", "count": 2}]


async def test_reset_forgets_everything(client, auth):
    await client.post(STATUSES, headers={**auth, "Idempotency-Key": "k"}, json={"status": "x"})
    await client.put("/_sandbox/faults", json={"platform": "mastodon", "sequence": ["500"]})
    await client.put(
        "/_sandbox/limits", json={"platform": "mastodon", "limit": 1, "window_seconds": 60}
    )
    await client.post(
        "/_sandbox/tokens/revoke", json={"platform": "mastodon", "token": "other.token"}
    )
    await client.put("/_sandbox/mastodon/instance", json={"max_characters": 10})
    r = await client.post("/_sandbox/reset")
    assert r.status_code == 200
    assert (await client.get("/_sandbox/posts")).json() == {"posts": [], "count": 0}
    assert (await client.get("/_sandbox/faults")).json() == {"faults": []}
    assert (await client.get("/_sandbox/tokens")).json()["revoked"]["mastodon"] == []
    assert (await client.get("/_sandbox/mastodon/instance")).json()["max_characters"] == 500
    stats = (await client.get("/_sandbox/stats")).json()
    assert stats["posts"]["total"] == 0 and stats["requests"]["by_platform"] == {
        "control": {"200": 5}
    }
    again = await client.post(
        STATUSES, headers={**auth, "Idempotency-Key": "k"}, json={"status": "x" * 20}
    )
    assert again.status_code == 200  # no fault, no limit, no idempotency replay, 500 characters
    assert again.headers["x-ratelimit-limit"] == "1000000"
    assert (
        await client.post(
            STATUSES, headers={"Authorization": "Bearer other.token"}, json={"status": "y"}
        )
    ).status_code == 200


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"platform": "myspace"}, "/platform"),
        ({"error_rates": {"418": 0.5}}, "/error_rates/418"),
        ({"error_rates": {"429": 1.5}}, "/error_rates/429"),
        ({"error_rates": {"429": 0.7, "500": 0.5}}, "/error_rates"),
        ({"sequence": ["429", "boom"]}, "/sequence/1"),
        ({"sequence": "429"}, "/sequence"),
        ({"latency_ms": -1}, "/latency_ms"),
        ({"timeout_seconds": "long"}, "/timeout_seconds"),
        ({"seed": 1.5}, "/seed"),
        ({"colour": "red"}, "/colour"),
        ({"account": ""}, "/account"),
        ([1, 2], ""),
    ],
)
async def test_fault_validation(client, body, pointer):
    assert_problem(await client.put("/_sandbox/faults", json=body), 422, pointer)


async def test_fault_config_roundtrip(client):
    assert_problem(await client.put("/_sandbox/faults", content=b"{not json"), 400)
    assert_problem(await client.put("/_sandbox/faults", content=b""), 400)
    body = {
        "platform": "mastodon",
        "account": "library",
        "error_rates": {"429": 0.2, "500": 0.1, "502": 0, "503": 0},
        "retry_after_seconds": 2,
        "latency_ms": 0,
        "latency_jitter_ms": 0,
        "timeout_after_commit_rate": 0.05,
        "timeout_seconds": 30,
        "sequence": ["429", "500", "timeout_after_commit", "ok"],
        "seed": 1,
    }
    r = await client.put("/_sandbox/faults", json=body)
    assert r.status_code == 200
    fault = r.json()["fault"]
    assert fault["error_rates"] == {"429": 0.2, "500": 0.1}
    assert fault["sequence"] == body["sequence"] and fault["seed"] == 1
    await client.put("/_sandbox/faults", json={"platform": "telegram", "sequence": ["500"]})
    assert len((await client.get("/_sandbox/faults")).json()["faults"]) == 2
    r = await client.delete("/_sandbox/faults", params={"platform": "telegram"})
    assert [f["platform"] for f in r.json()["faults"]] == ["mastodon"]
    r = await client.delete("/_sandbox/faults")
    assert r.json() == {"faults": []}


async def test_limits_validation_and_listing(client):
    assert_problem(
        await client.put(
            "/_sandbox/limits", json={"platform": "mastodon", "limit": 0, "window_seconds": 300}
        ),
        422,
        "/limit",
    )
    assert_problem(
        await client.put(
            "/_sandbox/limits", json={"platform": "myspace", "limit": 1, "window_seconds": 1}
        ),
        422,
        "/platform",
    )
    assert_problem(
        await client.put(
            "/_sandbox/limits",
            json={"platform": "telegram", "scope": "token", "limit": 1, "window_seconds": 1},
        ),
        422,
        "/scope",
    )
    assert_problem(
        await client.put("/_sandbox/limits", json={"platform": "mastodon", "limit": 3}),
        422,
        "/window_seconds",
    )
    r = await client.put(
        "/_sandbox/limits", json={"platform": "mastodon", "limit": 300, "window_seconds": 300}
    )
    limits = r.json()["limits"]
    assert {
        "platform": "mastodon",
        "scope": "token",
        "limit": 300,
        "window_seconds": 300,
        "default": False,
    } in limits
    r = await client.delete("/_sandbox/limits")
    assert all(entry["default"] for entry in r.json()["limits"])


async def test_token_and_instance_validation(client, auth):
    assert_problem(
        await client.post("/_sandbox/tokens/revoke", json={"platform": "mastodon"}), 422, "/token"
    )
    assert_problem(
        await client.post("/_sandbox/tokens/revoke", json={"platform": "fb", "token": "t"}),
        422,
        "/platform",
    )
    assert_problem(
        await client.put("/_sandbox/mastodon/instance", json={"max_characters": 0}),
        422,
        "/max_characters",
    )
    assert_problem(
        await client.put("/_sandbox/mastodon/instance", json={"max_characters": "500"}),
        422,
        "/max_characters",
    )
    assert_problem(
        await client.put("/_sandbox/mastodon/instance", json={"bogus": 1}), 422, "/bogus"
    )
    r = await client.put("/_sandbox/mastodon/instance", json={"max_characters": 20})
    assert r.status_code == 200 and r.json()["max_characters"] == 20
    instance = (await client.get("/mastodon/api/v2/instance")).json()
    assert instance["configuration"]["statuses"]["max_characters"] == 20
    r = await client.post(STATUSES, headers=auth, json={"status": "a" * 21})
    assert r.json() == {"error": "Validation failed: Text character limit of 20 exceeded"}


async def test_unknown_control_path(client):
    assert_problem(await client.get("/_sandbox/nope"), 404)
