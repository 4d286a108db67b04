"""Fault injection: sequences, seeded rates, latency, timeouts before and after commit."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from siar_sandbox.app import create_app
from siar_sandbox.settings import Settings

STATUSES = "/mastodon/api/v1/statuses"


async def put_faults(client: httpx.AsyncClient, **body) -> None:
    r = await client.put("/_sandbox/faults", json=body)
    assert r.status_code == 200, r.text


async def post_count(client: httpx.AsyncClient) -> int:
    return (await client.get("/_sandbox/posts")).json()["count"]


async def test_mastodon_sequence_uses_real_error_shapes(client, auth):
    await put_faults(
        client,
        platform="mastodon",
        sequence=["429", "500", "502", "503", "504", "ok"],
        retry_after_seconds=7,
    )
    headers = {**auth, "Accept": "application/json"}
    responses = [
        await client.post(STATUSES, headers=headers, json={"status": f"s{i}"}) for i in range(7)
    ]
    assert [r.status_code for r in responses] == [429, 500, 502, 503, 504, 200, 200]
    throttled = responses[0]
    assert throttled.json() == {"error": "Too many requests"}
    assert throttled.headers["x-ratelimit-remaining"] == "0"
    assert "retry-after" not in throttled.headers  # Rack::Attack sends none
    reset = datetime.fromisoformat(throttled.headers["x-ratelimit-reset"])
    assert 5 < (reset - datetime.now(UTC)).total_seconds() <= 7
    assert responses[1].json() == {"status": 500, "error": "Internal Server Error"}
    assert responses[2].headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in responses[2].text
    assert responses[3].json()["error"].startswith("There was a temporary problem")
    assert "504 Gateway Time-out" in responses[4].text
    assert await post_count(client) == 2
    faults = (await client.get("/_sandbox/faults")).json()["faults"]
    assert faults[0]["sequence_remaining"] == []
    injected = (await client.get("/_sandbox/stats")).json()["faults_injected"]["mastodon"]
    assert injected == {"429": 1, "500": 1, "502": 1, "503": 1, "504": 1}


async def test_reads_are_not_faulted_unless_asked(client, auth):
    await put_faults(client, platform="mastodon", sequence=["500"])
    assert (
        await client.get("/mastodon/api/v1/accounts/verify_credentials", headers=auth)
    ).status_code == 200
    assert (await client.get("/mastodon/api/v2/instance")).status_code == 200
    assert (await client.post(STATUSES, headers=auth, json={"status": "x"})).status_code == 500


async def test_telegram_sequence(client, tg):
    await put_faults(
        client, platform="telegram", sequence=["429", "500", "ok"], retry_after_seconds=3
    )
    send = f"{tg}/sendMessage"
    r1 = await client.post(send, json={"chat_id": "@kanal", "text": "1"})
    assert r1.status_code == 429
    assert r1.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert r1.headers["retry-after"] == "3"
    r2 = await client.post(send, json={"chat_id": "@kanal", "text": "2"})
    assert r2.status_code == 500
    assert r2.json() == {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    r3 = await client.post(send, json={"chat_id": "@kanal", "text": "3"})
    assert r3.status_code == 200 and r3.json()["result"]["message_id"] == 1
    assert (await client.get(f"{tg}/getMe")).status_code == 200


async def test_account_and_all_platform_scopes(client, auth, tg):
    await put_faults(client, platform="telegram", account="@rusak", sequence=["500", "500"])
    await put_faults(client, platform=None, sequence=["503"])
    ok_chat = await client.post(f"{tg}/sendMessage", json={"chat_id": "@sehat", "text": "x"})
    assert ok_chat.status_code == 503  # the all-platform config applies to other chats
    assert (
        await client.post(f"{tg}/sendMessage", json={"chat_id": "@sehat", "text": "x"})
    ).status_code == 200
    assert (
        await client.post(f"{tg}/sendMessage", json={"chat_id": "@rusak", "text": "x"})
    ).status_code == 500
    assert (await client.post(STATUSES, headers=auth, json={"status": "x"})).status_code == 200


async def _run_rates(seed: int) -> list[int]:
    app = create_app(Settings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as c:
        await put_faults(
            c, platform="mastodon", error_rates={"429": 0.2, "500": 0.1, "502": 0.05}, seed=seed
        )
        codes = []
        for i in range(200):
            r = await c.post(
                STATUSES, headers={"Authorization": "Bearer a.b"}, json={"status": str(i)}
            )
            codes.append(r.status_code)
        assert await post_count(c) == codes.count(200)
        return codes


async def test_seeded_rates_are_reproducible():
    first = await _run_rates(seed=1)
    second = await _run_rates(seed=1)
    assert first == second
    assert 20 <= first.count(429) <= 60
    assert 5 <= first.count(500) <= 35
    assert first.count(200) + first.count(429) + first.count(500) + first.count(502) == 200
    assert await _run_rates(seed=2) != first


async def test_latency(client, auth):
    await put_faults(client, platform="mastodon", latency_ms=150, latency_jitter_ms=50, seed=3)
    started = time.perf_counter()
    r = await client.post(STATUSES, headers=auth, json={"status": "lambat"})
    assert r.status_code == 200
    assert 0.15 <= time.perf_counter() - started < 1.5


async def test_timeout_before_commit_records_nothing(client, auth):
    await put_faults(client, platform="mastodon", sequence=["timeout"], timeout_seconds=0.05)
    r = await client.post(STATUSES, headers=auth, json={"status": "hilang"})
    assert r.status_code == 504
    assert await post_count(client) == 0


async def test_timeout_after_commit_mastodon(live_server):
    async with httpx.AsyncClient(base_url=live_server) as c:
        await put_faults(
            c, platform="mastodon", sequence=["timeout_after_commit"], timeout_seconds=0.6
        )
        headers = {"Authorization": "Bearer library.secret", "Idempotency-Key": "target-7"}
        with pytest.raises(httpx.ReadTimeout):
            await c.post(STATUSES, headers=headers, json={"status": "Sudah terbit"}, timeout=0.2)
        recorded = (await c.get("/_sandbox/posts")).json()
        assert recorded["count"] == 1 and recorded["posts"][0]["text"] == "Sudah terbit"
        # The client looks on the platform (reconciliation) and finds it...
        me = (await c.get("/mastodon/api/v1/accounts/verify_credentials", headers=headers)).json()
        listed = (
            await c.get(f"/mastodon/api/v1/accounts/{me['id']}/statuses", headers=headers)
        ).json()
        assert [s["id"] for s in listed] == [recorded["posts"][0]["id"]]
        # ...and a retry with the same Idempotency-Key returns the same status, no second post.
        retry = await c.post(STATUSES, headers=headers, json={"status": "Sudah terbit"}, timeout=5)
        assert retry.status_code == 200 and retry.json()["id"] == recorded["posts"][0]["id"]
        assert (await c.get("/_sandbox/posts")).json()["count"] == 1


async def test_timeout_after_commit_telegram(live_server):
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
    async with httpx.AsyncClient(base_url=live_server) as c:
        await put_faults(
            c, platform="telegram", sequence=["timeout_after_commit"], timeout_seconds=0.6
        )
        with pytest.raises(httpx.ReadTimeout):
            await c.post(
                f"/telegram/bot{token}/sendMessage",
                json={"chat_id": "@kanal", "text": "x"},
                timeout=0.2,
            )
        posts = (await c.get("/_sandbox/posts", params={"platform": "telegram"})).json()
        assert posts["count"] == 1 and posts["posts"][0]["account"] == "@kanal"
