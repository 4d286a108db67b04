"""Planning and requesting readings on the real database: a decaying schedule per published post,
a daily reading per account, requests asked again without an answer, replicas never doubling up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from siar_contracts import AccountNeedsReconnect, AccountRegistered, AccountUpdated, CloudEvent
from siar_metrics import collections, handlers, store
from siar_metrics.collections import Requester
from siar_runtime.due import DueRunner

from .conftest import (
    STEPS,
    envelope,
    make_due,
    publish_target,
    published,
    readings,
    scheduled,
    settings_for,
)


def requester(**overrides) -> Requester:
    values = {"answer_timeout": timedelta(minutes=15), "max_attempts": 3, "audience_interval": timedelta(days=1)}
    return Requester(**(values | overrides))


async def requested(db) -> list[CloudEvent]:
    async with db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT body FROM outbox WHERE routing_key = 'insights.requested' ORDER BY id")
    return [CloudEvent.from_json(bytes(r["body"])) for r in rows]


async def claim_all(db, req: Requester, limit: int = 500):
    async with db.pool.acquire() as conn, conn.transaction():
        return await req.claim(conn, limit)


async def test_a_published_post_is_read_at_each_step_and_a_replay_plans_nothing_more(db, clean_db, amqp_url):
    settings = settings_for(clean_db, amqp_url)
    post = published("post-1", at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    event = envelope(post, correlation_id="corr-1")
    for _ in range(2):  # the same event twice, then the same target in a new event
        await handlers.on_published(event, post, db.pool, settings, wake=lambda: None)
    await handlers.on_published(envelope(post), post, db.pool, settings, wake=lambda: None)
    rows = await readings(db, post.target_id)
    assert [r["stage"] for r in rows] == ["1h", "6h", "1d", "3d", "7d", "30d"]
    assert [r["planned_at"] - post.published_at for r in rows] == [offset for _, offset in STEPS]
    assert {r["state"] for r in rows} == {"planned"}
    assert {r["correlation_id"] for r in rows} == {"corr-1"}
    assert len({r["request_id"] for r in rows}) == 6


async def test_telegram_posts_are_not_read_but_telegram_audiences_are(db, clean_db, amqp_url):
    settings = settings_for(clean_db, amqp_url)
    post = published("post-2", platform="telegram", account_id="acc-t")
    await handlers.on_published(envelope(post), post, db.pool, settings, wake=lambda: None)
    assert await readings(db, post.target_id) == []
    account = AccountRegistered(account_id="acc-t", platform="telegram", handle="@perpus", status="active")
    await handlers.on_account(envelope(account), account, db.pool, wake=lambda: None)
    async with db.pool.acquire() as conn:
        planned = await conn.fetch("SELECT * FROM collections WHERE kind = 'account'")
    assert [(r["account_id"], r["stage"], r["state"]) for r in planned] == [("acc-t", "audience", "planned")]
    assert planned[0]["due_at"] <= datetime.now(UTC)


async def test_an_account_the_platform_gives_no_insights_for_is_never_asked(db, clean_db, amqp_url):
    # A LinkedIn member's profile (account.registered insights=false): its posts were read six
    # times each, answered empty, and counted in the reports as measured with no interactions.
    settings = settings_for(clean_db, amqp_url)
    member = AccountRegistered(account_id="acc-li", platform="linkedin", handle="Rina", status="active", insights=False)
    await handlers.on_account(envelope(member), member, db.pool, wake=lambda: None)
    post = published("post-li", platform="linkedin", account_id="acc-li")
    await handlers.on_published(envelope(post), post, db.pool, settings, wake=lambda: None)
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM collections") == 0

    # An organization page connected later is read; an account that stops giving insights (its
    # author changed) ends its daily audience chain at the reading already planned.
    page = AccountRegistered(account_id="acc-org", platform="linkedin", handle="Perpus", status="active")
    await handlers.on_account(envelope(page), page, db.pool, wake=lambda: None)
    other = published("post-org", platform="linkedin", account_id="acc-org")
    await handlers.on_published(envelope(other), other, db.pool, settings, wake=lambda: None)
    assert len(await readings(db, other.target_id)) == 6
    changed = AccountUpdated(account_id="acc-org", platform="linkedin", handle="Perpus", status="active", insights=False)
    await handlers.on_account(envelope(changed), changed, db.pool, wake=lambda: None)
    async with db.pool.acquire() as conn:
        await conn.execute("UPDATE collections SET due_at = now() - interval '1 second' WHERE kind = 'account'")
    claimed = await claim_all(db, requester())
    assert [(r["account_id"], what) for r, what in claimed if r["kind"] == "account"] == [("acc-org", "requested")]
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM collections WHERE kind = 'account' AND state = 'planned'") == 0


async def test_due_readings_become_requests_with_everything_the_publisher_needs(db):
    async with db.pool.acquire() as conn:
        await store.upsert_post(conn, "post-3", "Dongeng anak", [], "camp-1", [], datetime.now(UTC))
    target = await publish_target(db, post_id="post-3", text=None, published_at=datetime.now(UTC) - timedelta(hours=2))
    req = requester()
    claimed = await claim_all(db, req)
    assert [(r["stage"], outcome) for r, outcome in claimed] == [("1h", "requested")]  # only the 1 h step is due
    [request] = await requested(db)
    assert request.type == "org.siar.insights.requested.v1"
    assert request.correlationid == target["correlation_id"]
    assert request.subject == f"target/{target['target_id']}"
    data = request.data
    row = (await readings(db, target["target_id"]))[0]
    assert data["request_id"] == str(row["request_id"]) and data["kind"] == "post" and data["attempt"] == 1
    assert (data["account_id"], data["platform"], data["post_id"], data["target_id"], data["campaign_id"]) == (
        "acc-m", "mastodon", "post-3", target["target_id"], "camp-1")
    assert data["platform_post_id"] == row["platform_post_id"]
    assert row["state"] == "requested" and row["attempts"] == 1
    # Nothing more is due until the answer timeout has passed.
    assert await claim_all(db, req) == []


async def test_an_unanswered_request_is_asked_again_with_the_same_id_then_given_up(db):
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    req = requester(max_attempts=3)
    first = [(await readings(db, target["target_id"]))[0]["request_id"]]
    for attempt in (1, 2, 3):
        await make_due(db, first)
        [(row, outcome)] = await claim_all(db, req)
        assert (row["stage"], row["attempts"], outcome) == ("1h", attempt, "requested")
    await make_due(db, first)
    [(row, outcome)] = await claim_all(db, req)
    assert outcome == "unanswered"
    events = await requested(db)
    assert [e.data["attempt"] for e in events] == [1, 2, 3]
    assert len({e.data["request_id"] for e in events}) == 1
    assert len({e.id for e in events}) == 3  # each request is an event of its own
    first = (await readings(db, target["target_id"]))[0]
    assert first["state"] == "failed" and "no answer to 3 requests" in first["reason"]


async def test_an_account_is_read_daily_and_the_chain_pauses_while_it_needs_reconnecting(db):
    account = AccountRegistered(account_id="acc-m", platform="mastodon", handle="perpus", status="active")
    await handlers.on_account(envelope(account), account, db.pool, wake=lambda: None)
    req = requester()
    [(row, _)] = await claim_all(db, req)
    assert row["kind"] == "account"
    async with db.pool.acquire() as conn:
        planned = await conn.fetch("SELECT * FROM collections WHERE kind = 'account' AND state = 'planned'")
    assert len(planned) == 1
    assert timedelta(hours=23) < planned[0]["due_at"] - datetime.now(UTC) <= timedelta(days=1)
    # An update while one is planned plans nothing more.
    await handlers.on_account(envelope(account), AccountUpdated(**account.model_dump()), db.pool, wake=lambda: None)
    # Disconnected: the next reading is still asked (the publisher answers why), but none after it.
    lost = AccountNeedsReconnect(account_id="acc-m", platform="mastodon", reason="token revoked")
    await handlers.on_needs_reconnect(envelope(lost), lost, db.pool)
    await make_due(db, states=["planned"])
    [(row, _)] = await claim_all(db, req)
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM collections WHERE kind = 'account' AND state = 'planned'") == 0
    # Reconnected: read again at once.
    back = AccountUpdated(account_id="acc-m", platform="mastodon", handle="perpus", status="active")
    await handlers.on_account(envelope(back), back, db.pool, wake=lambda: None)
    [(row, _)] = await claim_all(db, req)
    assert row["kind"] == "account" and row["attempts"] == 1


async def test_two_replicas_request_every_due_reading_exactly_once(db):
    for _ in range(150):
        await publish_target(db, published_at=datetime.now(UTC) - timedelta(days=2))  # 1h, 6h and 1d are due
    claimed: list[int] = []
    runners = [
        DueRunner(db, name=f"r{i}", channel=store.DUE_CHANNEL, seconds_until_next_sql=store.seconds_until_next_sql(10_000),
                  claim=requester().claim, batch=40, sweep_seconds=0.5,
                  after_commit=lambda rows: claimed.append(len(rows)))
        for i in range(2)
    ]
    for r in runners:
        r.start()
    try:
        for _ in range(100):
            if len(await requested(db)) >= 450:
                break
            await asyncio.sleep(0.1)
    finally:
        for r in runners:
            await r.stop()
    events = await requested(db)
    assert len(events) == 450
    assert len({e.data["request_id"] for e in events}) == 450
    assert max(claimed) > 1


async def test_the_post_read_model_keeps_text_hashtags_and_campaign(db):
    event = scheduled("post-4", "Lomba mewarnai #HariAnak di #PerpusKota", campaign_id="camp-9",
                      hashtags=["BulanMembaca", "#hariAnak"])
    await handlers.on_post(envelope(event), event, db.pool)
    async with db.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM posts WHERE post_id = 'post-4'")
    assert row["hashtags"] == ["HariAnak", "PerpusKota", "BulanMembaca"]
    assert row["campaign_id"] == "camp-9" and row["campaign_hashtags"] == ["BulanMembaca", "hariAnak"]


async def test_plan_audience_keeps_one_planned_reading_per_account(db):
    async with db.pool.acquire() as conn:
        for _ in range(3):
            await collections.plan_audience(conn, "acc-x", "x")
        assert await conn.fetchval("SELECT count(*) FROM collections WHERE account_id = 'acc-x'") == 1


async def test_no_more_than_in_flight_requests_wait_for_an_answer_at_once(db):
    for _ in range(10):
        await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    req = requester(in_flight=4)
    assert len(await claim_all(db, req)) == 4
    assert await claim_all(db, req) == []  # the publisher has enough to do
    async with db.pool.acquire() as conn:
        assert await conn.fetchval(store.seconds_until_next_sql(4)) is None  # sleep until an answer wakes it
        await conn.execute("DELETE FROM collections WHERE state = 'requested'")  # answered
        assert await conn.fetchval(store.seconds_until_next_sql(4)) < 0
    assert len(await claim_all(db, req)) == 4
