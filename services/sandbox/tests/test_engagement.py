"""Counts that grow with time since publication, in the platforms' real formats, and reads that
fail like the platforms' when the fault control says so."""

from __future__ import annotations

import time
from datetime import datetime

from siar_sandbox import engagement

STATUSES = "/mastodon/api/v1/statuses"


async def advance(client, seconds: float) -> None:
    r = await client.put("/_sandbox/clock", json={"advance_seconds": seconds})
    assert r.status_code == 200, r.text


def created(status: dict) -> float:
    return datetime.fromisoformat(status["created_at"].replace("Z", "+00:00")).timestamp()


async def test_a_status_gains_favourites_reblogs_and_replies_as_predicted(client, auth):
    status = (await client.post(STATUSES, headers=auth, json={"status": "Pameran buku #PalembangBaca"})).json()
    assert (status["favourites_count"], status["reblogs_count"], status["replies_count"]) == (0, 0, 0)
    await advance(client, 86_400)
    before = time.time()
    later = (await client.get(f"{STATUSES}/{status['id']}", headers=auth)).json()
    after = time.time()
    for field, kind in (("favourites_count", "favourites"), ("reblogs_count", "reblogs"), ("replies_count", "replies")):
        low = engagement.grown(kind, status["id"], before + 86_400 - created(status) - 0.01)
        high = engagement.grown(kind, status["id"], after + 86_400 - created(status) + 0.01)
        assert low <= later[field] <= high, field
    assert later["favourites_count"] > later["reblogs_count"] > 0
    # The same id always grows at the same rate.
    assert engagement.rate("favourites", status["id"]) == engagement.rate("favourites", status["id"])
    assert 1.0 <= engagement.rate("favourites", status["id"]) < 3.0


async def test_followers_and_channel_members_grow(client, auth, tg):
    first = (await client.get("/mastodon/api/v1/accounts/verify_credentials", headers=auth)).json()
    members = (await client.get(f"{tg}/getChatMemberCount", params={"chat_id": "@perpuskota"})).json()["result"]
    await advance(client, 86_400)
    later = (await client.get("/mastodon/api/v1/accounts/verify_credentials", headers=auth)).json()
    assert later["followers_count"] - first["followers_count"] >= int(0.5 * 86_400 ** 0.5)
    shown = (await client.get(f"/mastodon/api/v1/accounts/{first['id']}")).json()
    assert shown["followers_count"] >= later["followers_count"]
    grown = (await client.get(f"{tg}/getChatMemberCount", params={"chat_id": "@perpuskota"})).json()["result"]
    assert grown - members >= int(0.5 * 86_400 ** 0.5)


async def test_reads_fail_like_the_platforms_when_asked(client, auth, tg):
    status = (await client.post(STATUSES, headers=auth, json={"status": "x"})).json()
    r = await client.put("/_sandbox/faults", json={"platform": "mastodon", "calls": "reads",
                                                   "sequence": ["429", "502"], "retry_after_seconds": 9})
    assert r.status_code == 200 and r.json()["fault"]["calls"] == "reads"
    assert (await client.post(STATUSES, headers=auth, json={"status": "writes go on"})).status_code == 200
    limited = await client.get(f"{STATUSES}/{status['id']}", headers=auth)
    assert limited.status_code == 429 and limited.json() == {"error": "Too many requests"}
    assert "x-ratelimit-reset" in limited.headers
    assert (await client.get("/mastodon/api/v1/accounts/verify_credentials", headers=auth)).status_code == 502
    assert (await client.get(f"{STATUSES}/{status['id']}", headers=auth)).status_code == 200

    await client.put("/_sandbox/faults", json={"platform": "telegram", "calls": "all", "sequence": ["429"],
                                               "retry_after_seconds": 4})
    r = await client.get(f"{tg}/getChatMemberCount", params={"chat_id": "@perpuskota"})
    assert r.status_code == 429 and r.json()["parameters"] == {"retry_after": 4}

    r = await client.put("/_sandbox/faults", json={"platform": "mastodon", "calls": "sometimes"})
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/calls"
