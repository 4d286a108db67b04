"""The reports through the HTTP API, in-process against the real database and broker."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from siar_metrics import collections, store
from siar_metrics.app import create_app

from .conftest import (
    TOKEN,
    answer,
    collected,
    failed,
    make_due,
    publish_target,
    readings,
    settings_for,
)
from .test_collections import claim_all, requester

MONDAY_9_WIB = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # Monday 09:00 in Asia/Jakarta


@pytest.fixture
async def client(clean_db, amqp_url, db):
    """The HTTP API on the test's database, without the consumer and the due runner (the tests
    request and answer readings themselves); test_prometheus starts the whole app."""
    app = create_app(settings_for(clean_db, amqp_url))
    app.state.db = db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics",
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


async def read_post(db, metrics: dict, *, platform="instagram", published_at=MONDAY_9_WIB, stages=1, **kw) -> dict:
    """A published target whose first ``stages`` readings are collected with ``metrics`` (scaled
    by the stage number, as counts grow)."""
    target = await publish_target(db, platform=platform, published_at=published_at, **kw)
    rows = (await readings(db, target["target_id"]))[:stages]
    await make_due(db, [r["request_id"] for r in rows])
    await claim_all(db, requester())
    await answer(db, *(collected(r, {k: v * n for k, v in metrics.items()}, at=r["planned_at"])
                       for n, r in enumerate(rows, start=1)))
    return target


async def read_audience(db, account_id: str, platform: str, values: list[tuple[datetime, float]]) -> None:
    for at, followers in values:
        async with db.pool.acquire() as conn:
            # In place of the next daily reading the claim planned: one at the time the test wants.
            await conn.execute("DELETE FROM collections WHERE kind = 'account' AND state = 'planned'")
            await collections.plan_audience(conn, account_id, platform, at=at)
        [(row, _)] = await claim_all(db, requester())
        raw = {"member_count": followers} if platform == "telegram" else {"followers_count": followers}
        await answer(db, collected(row, raw, at=at))


def period(**extra) -> dict:
    return {"from": "2026-11-01T00:00:00+07:00", "to": "2026-12-01T00:00:00+07:00", **extra}


async def test_reports_need_a_token_and_say_what_is_wrong(client):
    response = await client.get("/v1/reports/top-posts", headers={"Authorization": "Bearer nope-nope-nope"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    # A day or a time without an offset is the library's (Asia/Jakarta here), as a librarian means
    # it, and a day as 'to' takes that day in: November is from=2026-11-01&to=2026-11-30.
    with_offset = await client.get("/v1/reports/top-posts", params=period())
    for local_period in ({"from": "2026-11-01", "to": "2026-11-30"}, {"from": "2026-11-01", "to": "2026-12-01T00:00"}):
        local = await client.get("/v1/reports/top-posts", params=local_period)
        assert local.status_code == 200 and local.json() == with_offset.json(), local.text
    one_day = (await client.get("/v1/reports/top-posts", params={"from": "2026-11-05", "to": "2026-11-05"})).json()
    assert (one_day["period"]["start"], one_day["period"]["end"]) == ("2026-11-05T00:00:00+07:00", "2026-11-06T00:00:00+07:00")
    unreadable = await client.get("/v1/reports/top-posts", params={"from": "05/11/2026"})
    assert unreadable.status_code == 422 and "is not a day (2026-12-05)" in unreadable.json()["detail"]
    assert local.json()["period"]["start"] == "2026-11-01T00:00:00+07:00"
    response = await client.get("/v1/reports/performance", params={"group_by": "weather"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "query.group_by"
    response = await client.get("/v1/reports/top-posts", params=period(**{"from": "2026-12-02T00:00:00Z"}))
    assert response.status_code == 422
    assert (await client.get("/v1/posts/nope/engagement")).status_code == 404


async def test_top_posts_rank_by_engagement_rate_and_say_their_basis(client, db):
    async with db.pool.acquire() as conn:  # the account's handle, as its account.* event gives it
        await store.upsert_account(conn, "acc-m", "instagram", "perpus.palembang", None, "active")
    quiet = await read_post(db, {"likes": 10, "reach": 1000, "views": 3000}, text="Jam buka baru")
    loved = await read_post(db, {"likes": 90, "comments": 10, "reach": 500}, text="Lomba mewarnai #HariAnak")
    viewed = await read_post(db, {"likes": 30, "views": 600}, text="=HYPERLINK(\"http://x\") pustaka keliling")
    response = await client.get("/v1/reports/top-posts", params=period())
    assert response.status_code == 200, response.text
    posts = response.json()["posts"]
    assert [p["target_id"] for p in posts] == [loved["target_id"], viewed["target_id"], quiet["target_id"]]
    first = posts[0]
    assert first["rank"] == 1 and first["engagement_rate"] == pytest.approx(0.2)
    assert first["engagement_basis"] == "reach" and first["interactions"] == 100
    assert first["text"] == "Lomba mewarnai #HariAnak" and first["hashtags"] == ["HariAnak"]
    assert first["handle"] == "perpus.palembang"
    assert posts[1]["engagement_basis"] == "views" and posts[1]["engagement_rate"] == pytest.approx(0.05)
    by_likes = (await client.get("/v1/reports/top-posts", params=period(order_by="likes", limit=1))).json()
    assert [p["likes"] for p in by_likes["posts"]] == [90]
    # Outside the period: nothing.
    empty = await client.get("/v1/reports/top-posts", params={"from": "2026-10-01T00:00:00Z",
                                                              "to": "2026-11-01T00:00:00Z"})
    assert empty.json()["posts"] == []

    response = await client.get("/v1/reports/top-posts", params=period(format="csv"))
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="top-posts.csv"'
    assert response.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert [r["target_id"] for r in rows] == [p["target_id"] for p in posts]
    assert rows[1]["text"].startswith("'=HYPERLINK")  # never a formula in a spreadsheet
    assert float(rows[0]["engagement_rate"]) == pytest.approx(0.2)
    # As the library reads a spreadsheet: the handle, and times in its zone with their offset.
    assert rows[0]["handle"] == "perpus.palembang"
    assert rows[0]["published_at"] == "2026-11-16T09:00:00+07:00"
    assert datetime.fromisoformat(rows[0]["collected_at"]) == datetime.fromisoformat(first["collected_at"])
    assert rows[0]["collected_at"].endswith("+07:00")


async def test_a_stage_compares_posts_at_the_same_age(client, db):
    old = await read_post(db, {"likes": 10, "reach": 100}, stages=3)  # 1h: 10/100, 6h: 20/200, 1d: 30/300
    report = (await client.get("/v1/reports/top-posts", params=period(stage="1h"))).json()
    assert [(p["target_id"], p["stage"], p["likes"]) for p in report["posts"]] == [(old["target_id"], "1h", 10)]
    latest = (await client.get("/v1/reports/top-posts", params=period())).json()
    assert [(p["stage"], p["likes"]) for p in latest["posts"]] == [("1d", 30)]


async def test_performance_per_campaign_hashtag_platform_and_account(client, db):
    await read_post(db, {"likes": 10, "comments": 10, "reach": 100}, campaign_id="camp-read",
                    campaign_hashtags=["BulanMembaca"], text="Baca bareng #DongengAnak")
    await read_post(db, {"likes": 10, "reach": 900}, campaign_id="camp-read",
                    campaign_hashtags=["BulanMembaca"], text="Pojok baca #dongenganak")
    await read_post(db, {"favourites_count": 5, "reblogs_count": 1}, platform="mastodon", text="Jam buka")
    async with db.pool.acquire() as conn:
        await store.upsert_account(conn, "acc-m", "mastodon", "perpus", None, "active")

    campaigns = (await client.get("/v1/reports/performance", params=period())).json()["groups"]
    by_key = {g["key"]: g for g in campaigns}
    assert set(by_key) == {"camp-read", None}
    read = by_key["camp-read"]
    assert (read["posts"], read["likes"], read["comments"], read["interactions"]) == (2, 20, 10, 30)
    assert read["engagement_rate"] == pytest.approx(30 / 1000)  # totals, not the mean of 20 % and 1.1 %
    assert read["label"] == "BulanMembaca" and read["denominators"] == {"reach": 2, "views": 0, "followers": 0,
                                                                         "none": 0}
    assert by_key[None]["denominators"]["none"] == 1  # Mastodon, no followers known yet: no rate

    tags = {g["key"]: g for g in (await client.get("/v1/reports/performance",
                                                   params=period(group_by="hashtag"))).json()["groups"]}
    assert tags["dongenganak"]["posts"] == 2 and tags["dongenganak"]["label"] in ("DongengAnak", "dongenganak")
    assert tags["bulanmembaca"]["interactions"] == 30
    platforms = (await client.get("/v1/reports/performance", params=period(group_by="platform"))).json()["groups"]
    assert [(g["key"], g["targets"]) for g in platforms] == [("instagram", 2), ("mastodon", 1)]
    accounts = (await client.get("/v1/reports/performance", params=period(group_by="account"))).json()["groups"]
    assert [(g["key"], g["label"], g["interactions"]) for g in accounts] == [("acc-m", "perpus", 36)]
    csv_text = (await client.get("/v1/reports/performance", params=period(group_by="hashtag", format="csv"))).text
    assert csv_text.lstrip("\ufeff").splitlines()[0].startswith("hashtag,label,posts,targets,views")


async def test_audience_growth_per_account_by_local_day(client, db):
    start = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 08:00 WIB
    await read_audience(db, "acc-t", "telegram", [
        (start, 800), (start + timedelta(hours=12), 805),  # 20:00 WIB, the same local day: the later one counts
        (start + timedelta(days=1), 830), (start + timedelta(days=2), 880)])
    await read_audience(db, "acc-m", "mastodon", [(start, 1000), (start + timedelta(days=2), 990)])
    report = (await client.get("/v1/reports/audience", params=period())).json()
    assert report["timezone"] == "Asia/Jakarta"
    telegram, mastodon = report["accounts"]
    assert telegram["account_id"] == "acc-t"
    assert [(p["day"], p["followers"]) for p in telegram["series"]] == [
        ("2026-11-10", 805), ("2026-11-11", 830), ("2026-11-12", 880)]
    assert (telegram["start_followers"], telegram["end_followers"], telegram["change"]) == (805, 880, 75)
    assert telegram["change_percent"] == pytest.approx(75 / 805 * 100)
    assert mastodon["change"] == -10
    only = (await client.get("/v1/reports/audience", params=period(account_id="acc-m"))).json()["accounts"]
    assert [a["account_id"] for a in only] == ["acc-m"]
    rows = (await client.get("/v1/reports/audience", params=period(format="csv"))).text.lstrip("\ufeff").splitlines()
    assert rows[0] == "account_id,platform,handle,day,followers,collected_at" and len(rows) == 6
    assert rows[1].startswith("acc-t,telegram,,2026-11-10,805") and rows[1].endswith(",2026-11-10T20:00:00+07:00")


async def test_best_hours_in_the_library_time_zone(client, db):
    await read_post(db, {"likes": 50, "reach": 500}, published_at=MONDAY_9_WIB)
    await read_post(db, {"likes": 10, "reach": 500}, published_at=MONDAY_9_WIB + timedelta(minutes=30))
    await read_post(db, {"likes": 5, "reach": 500}, published_at=MONDAY_9_WIB + timedelta(days=5, hours=10))  # Sat 19
    report = (await client.get("/v1/reports/best-hours", params=period())).json()
    assert report["timezone"] == "Asia/Jakarta"
    cells = {(c["day_of_week"], c["hour"]): c for c in report["cells"]}
    assert set(cells) == {(1, 9), (6, 19)}
    assert cells[(1, 9)]["posts"] == 2 and cells[(1, 9)]["engagement_rate"] == pytest.approx(60 / 1000)
    assert report["grid"][0][9] == pytest.approx(0.06) and report["grid"][5][19] == pytest.approx(0.01)
    assert sum(v is not None for row in report["grid"] for v in row) == 2
    assert [(b["day_of_week"], b["hour"]) for b in report["best"]] == [(1, 9), (6, 19)]
    assert [(b["day_of_week"], b["hour"]) for b in (await client.get(
        "/v1/reports/best-hours", params=period(min_posts=2))).json()["best"]] == [(1, 9)]

    # One post sent to two platforms is one post of that hour, and two platform posts.
    saturday = MONDAY_9_WIB + timedelta(days=5, hours=10)
    first = await read_post(db, {"likes": 5, "reach": 500}, published_at=saturday, post_id="p-two")
    await read_post(db, {"likes": 5, "reach": 500}, platform="threads", account_id="acc-t", published_at=saturday,
                    post_id=first["post_id"])
    report = (await client.get("/v1/reports/best-hours", params=period(min_posts=2))).json()
    cells = {(c["day_of_week"], c["hour"]): c for c in report["cells"]}
    assert (cells[(6, 19)]["posts"], cells[(6, 19)]["targets"]) == (2, 3)
    assert (cells[(1, 9)]["posts"], cells[(1, 9)]["targets"]) == (2, 2)
    rows = (await client.get("/v1/reports/best-hours", params=period(format="csv"))).text.lstrip("\ufeff").splitlines()
    assert rows[0] == "day_of_week,hour,posts,targets,mean_interactions,engagement_rate"


async def test_a_post_shows_every_reading_and_why_one_is_missing(client, db):
    target = await read_post(db, {"likes": 4, "reach": 40, "total_interactions": 4}, stages=2,
                             published_at=datetime.now(UTC) - timedelta(hours=2))
    rows = await readings(db, target["target_id"])
    await make_due(db, [rows[2]["request_id"]])
    await claim_all(db, requester())
    await answer(db, failed(rows[2], "target_gone", "Instagram no longer has this post (deleted?)"))
    body = (await client.get(f"/v1/posts/{target['post_id']}/engagement")).json()
    [t] = body["targets"]
    assert [(r["stage"], r["state"]) for r in t["readings"]] == [
        ("1h", "collected"), ("6h", "collected"), ("1d", "failed"), ("3d", "planned"), ("7d", "planned"),
        ("30d", "planned")]
    second = t["readings"][1]
    assert second["likes"] == 8 and second["raw"] == {"likes": 8, "reach": 80, "total_interactions": 8}
    assert second["engagement_rate"] == pytest.approx(0.1) and second["engagement_basis"] == "reach"
    assert t["readings"][2]["reason"] == "Instagram no longer has this post (deleted?)"
    async with db.pool.acquire() as conn:  # a reading stored before readings kept their raw answer
        await conn.execute("UPDATE readings SET raw = NULL WHERE request_id = $1", second["request_id"])
    again = (await client.get(f"/v1/posts/{target['post_id']}/engagement")).json()["targets"][0]["readings"][1]
    assert again["raw"] == {"likes": 8, "reach": 80, "total_interactions": 8}  # from the samples
    failed_list = (await client.get("/v1/collections", params={"state": "failed"})).json()["collections"]
    assert [(c["stage"], c["error_class"]) for c in failed_list] == [("1d", "target_gone")]


async def test_prometheus_exports_bounded_aggregates(clean_db, amqp_url, db):
    now = datetime.now(UTC)
    for i in range(3):
        await read_post(db, {"likes": 10, "reach": 100}, published_at=now - timedelta(hours=2),
                        campaign_id=f"camp-{i}", stages=1)
    await read_post(db, {"likes": 30, "reach": 100}, published_at=now - timedelta(hours=2), campaign_id="camp-0")
    await read_audience(db, "acc-t", "telegram", [(now - timedelta(minutes=1), 812)])
    async with db.pool.acquire() as conn:
        await store.upsert_account(conn, "acc-t", "telegram", "@perpus", None, "active")
    app = create_app(settings_for(clean_db, amqp_url, campaign_labels=1))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metrics") as c:
            for _ in range(50):
                text = (await c.get("/metrics")).text
                if "siar_metrics_engagement_rate{" in text:
                    break
                await asyncio.sleep(0.1)
    lines = [line for line in text.splitlines() if line.startswith("siar_metrics_")]
    rates = {line.split(" ")[0]: float(line.split(" ")[1]) for line in lines if line.startswith("siar_metrics_engagement_rate{")}
    assert rates == {'siar_metrics_engagement_rate{campaign="camp-0",platform="instagram"}': pytest.approx(0.2),
                     'siar_metrics_engagement_rate{campaign="other",platform="instagram"}': pytest.approx(0.1)}
    assert 'siar_metrics_followers{platform="telegram"} 812.0' in lines
    since = [line for line in lines if line.startswith("siar_metrics_seconds_since_last_collection{")]
    assert {line.split("{")[1].split("}")[0] for line in since} == {'platform="instagram"', 'platform="telegram"'}
    assert all(float(line.split(" ")[1]) < 7200 for line in since)
    assert not any("acc-" in line or "target" in line for line in lines)  # never an id as a label
