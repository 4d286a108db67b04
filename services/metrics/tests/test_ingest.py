"""Storing answers on the real database: samples by COPY, normalised values and engagement on the
reading, events for other systems, and never a sample lost or counted twice."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import structlog
import structlog.testing
from siar_contracts import InsightsCollected, spec_for_type
from siar_metrics import store, vocabulary
from siar_metrics.engagement import rate
from siar_metrics.ids import uuid7
from siar_metrics.ingest import Answer, Policy, store_answers
from siar_metrics.vocabulary import POST_METRICS, normalise, table

from .conftest import (
    answer,
    collected,
    envelope,
    failed,
    make_due,
    pending_events,
    publish_target,
    readings,
)
from .test_collections import claim_all, requester

MASTODON = {"favourites_count": 40, "reblogs_count": 6, "replies_count": 4}


async def requested_first(db, target) -> object:
    """The target's 1 h reading, requested."""
    row = (await readings(db, target["target_id"]))[0]
    await make_due(db, [row["request_id"]])
    await claim_all(db, requester())
    return (await readings(db, target["target_id"]))[0]


async def samples_of(db, request_id) -> list:
    async with db.pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM samples WHERE request_id = $1 ORDER BY raw_name", request_id)


async def followers(conn, account_id: str) -> float | None:
    return await conn.fetchval("SELECT followers FROM accounts WHERE account_id = $1", account_id)


async def known_followers(conn, rows: list[tuple[str, str, float, datetime]]) -> None:
    """Setup: accounts whose followers were read before (account, platform, followers, when)."""
    await conn.executemany(
        "INSERT INTO accounts (account_id, platform, followers, followers_at) VALUES ($1, $2, $3, $4)", rows)


async def test_an_answer_becomes_raw_samples_normalised_values_and_an_event(db):
    async with db.pool.acquire() as conn:
        await known_followers(conn, [("acc-m", "mastodon", 1000.0, datetime.now(UTC))])
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2), campaign_id="camp-1")
    row = await requested_first(db, target)
    at = datetime.now(UTC)
    outcome = await answer(db, collected(row, MASTODON | {"quotes_count": 1, "brand_new": 3}, at=at))
    assert outcome.total_samples == 5 and outcome.collected[("mastodon", "post")] == 1
    samples = await samples_of(db, row["request_id"])
    assert [(s["raw_name"], s["metric"], s["value"]) for s in samples] == [
        ("brand_new", None, 3), ("favourites_count", "likes", 40), ("quotes_count", "shares", 1),
        ("reblogs_count", "shares", 6), ("replies_count", "comments", 4)]
    assert {(s["platform"], s["account_id"], s["target_id"]) for s in samples} == {
        ("mastodon", "acc-m", target["target_id"])}
    reading = (await readings(db, target["target_id"]))[0]
    assert reading["state"] == "collected"
    assert (reading["likes"], reading["shares"], reading["comments"], reading["views"]) == (40, 7, 4, None)
    # Mastodon reports no reach or views: the followers at the time are the denominator.
    assert (reading["interactions"], reading["denominator"], reading["basis"], reading["followers"]) == (
        51, 1000, "followers", 1000)
    [sampled] = await pending_events(db, "engagement.sampled")
    assert sampled.correlationid == target["correlation_id"]
    payload = spec_for_type(sampled.type).parse(sampled)
    assert payload.engagement_basis == "followers"
    # Put together in SQL, yet what the model describes: every field, nothing else, right values.
    assert set(sampled.data) == set(type(payload).model_fields) and sampled.subject == f"target/{target['target_id']}"
    assert payload.target_id == target["target_id"] and payload.account_id == "acc-m" and payload.platform == "mastodon"
    assert (payload.collected_at, payload.published_at, payload.platform_post_id, payload.request_id) == (
        at, target["published_at"], row["platform_post_id"], str(row["request_id"]))
    assert sampled.id == str(row["request_id"])  # one reading, one event, always the same id
    data = sampled.data
    assert data["metrics"] == {"likes": 40, "shares": 7, "comments": 4}
    assert data["raw"]["favourites_count"] == 40
    assert data["engagement_rate"] == pytest.approx(0.051) and data["engagement_basis"] == "followers"
    assert data["campaign_id"] == "camp-1" and data["post_id"] == target["post_id"]


async def test_an_answer_delivered_twice_or_given_twice_counts_once(db):
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    row = await requested_first(db, target)
    payload = collected(row, MASTODON)
    event = envelope(payload)
    async with db.pool.acquire() as conn, conn.transaction():
        first = await store_answers(conn, [Answer(event, payload)], Policy())
    async with db.pool.acquire() as conn, conn.transaction():  # the same message again
        again = await store_answers(conn, [Answer(event, payload)], Policy())
    # The request was asked twice and both answers arrived (as separate events, one batch and later).
    second = collected(row, {"favourites_count": 99, "reblogs_count": 9, "replies_count": 9})
    both = await answer(db, second, second)
    assert (first.total_samples, again.total_samples, both.total_samples) == (3, 0, 0)
    assert (again.duplicates, both.duplicates) == (1, 2)
    assert len(await samples_of(db, row["request_id"])) == 3
    assert (await readings(db, target["target_id"]))[0]["likes"] == 40
    assert len(await pending_events(db, "engagement.sampled")) == 1


async def test_a_retryable_failure_plans_the_reading_again_and_a_final_one_says_why(db):
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(days=2))
    rows = await readings(db, target["target_id"])
    await make_due(db, [r["request_id"] for r in rows[:3]])
    await claim_all(db, requester())
    one_h, six_h, one_d = (await readings(db, target["target_id"]))[:3]
    retry_at = datetime.now(UTC) + timedelta(minutes=5)
    with structlog.testing.capture_logs() as logged:
        outcome = await answer(
            db,
            failed(one_h, "rate_limited", "Mastodon asked Siar to slow down", retry_at=retry_at),
            failed(six_h, "transient", "Mastodon had a problem"),
            failed(one_d, "target_gone", "Mastodon no longer has this post (deleted?)"),
            policy=Policy(backoff_seconds=60),
        )
    assert outcome.retrying[("mastodon", "post")] == 2 and outcome.failed[("mastodon", "post")] == 1
    # What the SiarInsightsNotCollected runbook tells an operator to look for.
    [gone] = [e for e in logged if e["event"] == "collection failed"]
    assert (gone["platform"], gone["error_class"], gone["reason"]) == (
        "mastodon", "target_gone", "Mastodon no longer has this post (deleted?)")
    assert len([e for e in logged if e["event"] == "collection will be retried"]) == 2
    one_h, six_h, one_d = (await readings(db, target["target_id"]))[:3]
    assert one_h["state"] == "planned" and one_h["due_at"] == retry_at and one_h["error_class"] == "rate_limited"
    assert six_h["state"] == "planned"
    assert timedelta(seconds=25) < six_h["due_at"] - datetime.now(UTC) <= timedelta(seconds=60)  # 60 s ± jitter
    assert one_d["state"] == "failed" and one_d["reason"] == "Mastodon no longer has this post (deleted?)"
    assert await samples_of(db, one_h["request_id"]) == []


async def test_retries_stop_after_the_last_attempt_and_a_late_answer_is_still_kept(db):
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    row = (await readings(db, target["target_id"]))[0]
    for _ in range(2):
        await make_due(db, [row["request_id"]])
        await claim_all(db, requester())
        await answer(db, failed(row, "transient", "Mastodon had a problem"), policy=Policy(max_attempts=2))
    row = (await readings(db, target["target_id"]))[0]
    assert row["state"] == "failed" and row["reason"] == "gave up after 2 attempts: Mastodon had a problem"
    outcome = await answer(db, collected(row, MASTODON))  # the platform answered after all
    assert outcome.total_samples == 3
    assert (await readings(db, target["target_id"]))[0]["state"] == "collected"


async def test_a_failure_for_a_reading_already_collected_changes_nothing(db):
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    row = await requested_first(db, target)
    outcome = await answer(db, failed(row, "transient"), collected(row, MASTODON))  # in one batch
    assert outcome.total_samples == 3 and outcome.duplicates == 1
    await answer(db, failed(row, "transient"))
    assert (await readings(db, target["target_id"]))[0]["state"] == "collected"


async def test_an_audience_answer_updates_the_followers_used_for_later_rates(db):
    async with db.pool.acquire() as conn, conn.transaction():
        from siar_metrics import collections

        await collections.plan_audience(conn, "acc-m", "mastodon")
    [(row, _)] = await claim_all(db, requester())
    await answer(db, collected(row, {"followers_count": 2500, "statuses_count": 12}))
    [sampled] = await pending_events(db, "audience.sampled")
    assert sampled.data["followers"] == 2500 and sampled.data["raw"]["statuses_count"] == 12
    audience = spec_for_type(sampled.type).parse(sampled)
    assert set(sampled.data) == set(type(audience).model_fields) and audience.account_id == "acc-m"
    assert sampled.subject == "account/acc-m" and sampled.source == "/siar/metrics"
    async with db.pool.acquire() as conn:
        assert await followers(conn, "acc-m") == 2500
    # An older reading answered late (another batch) does not overwrite the newer one.
    late = await audience_requested(db, "acc-m")
    await answer(db, collected(late, {"followers_count": 10}, at=datetime.now(UTC) - timedelta(days=1)))
    async with db.pool.acquire() as conn:
        assert await followers(conn, "acc-m") == 2500
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    post_row = await requested_first(db, target)
    await answer(db, collected(post_row, MASTODON))
    assert (await readings(db, target["target_id"]))[0]["denominator"] == 2500


async def test_an_answer_for_a_request_this_service_never_made_is_ignored(db):
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    row = dict(await requested_first(db, target))
    row["request_id"] = "00000000-0000-7000-8000-000000000000"
    outcome = await answer(db, collected(row, MASTODON))
    assert outcome.total_samples == 0 and outcome.duplicates == 1


async def test_retention_forgets_old_samples_only(db):
    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(days=40))
    rows = await readings(db, target["target_id"])
    await make_due(db, [r["request_id"] for r in rows])
    await claim_all(db, requester())
    rows = await readings(db, target["target_id"])
    await answer(db, *(collected(r, MASTODON, at=r["planned_at"]) for r in rows))
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM samples") == 18
        async with conn.transaction():
            await store.announce_cursor(conn)  # the cursor's row (a test starts with empty tables)
        # The readings wait for their events (test_announce); the samples go.
        assert await store.prune(conn, 20) == (15, 0)
    await pending_events(db)  # settled
    async with db.pool.acquire() as conn, conn.transaction():
        announced = await store.unannounced(conn, await store.announce_cursor(conn), 100, ("t.e", "t.a"))
        await store.advance_cursor(conn, announced[-1]["txid"], announced[-1]["request_id"])
    async with db.pool.acquire() as conn:
        assert await store.prune(conn, 20) == (0, 5)  # the 30 d reading (10 days ago) stays
        assert await conn.fetchval("SELECT count(*) FROM samples") == 3
        assert await conn.fetchval("SELECT count(*) FROM readings") == 1


async def test_the_stored_values_and_events_are_the_vocabulary_and_the_rate_definition(db):
    """The statement normalises and rates in SQL; vocabulary.normalise and engagement.rate say
    what that must give. 400 answers in one batch, any platform, names known and unknown,
    integers, fractions and zeros, with the account's followers known, zero or unknown."""
    rng = random.Random(5)
    now = datetime.now(UTC)
    known = {"acc-0": 1200.0, "acc-1": 0.0}  # acc-2: never read
    async with db.pool.acquire() as conn:
        await known_followers(conn, [(a, "x", f, now - timedelta(days=1)) for a, f in sorted(known.items())])
    plans, payloads = [], []
    for i in range(400):
        kind = "account" if i % 5 == 0 else "post"
        platform = rng.choice(vocabulary.PLATFORMS)
        names = [*table(kind, platform), "brand_new"]
        metrics = {name: rng.choice([0, rng.randint(1, 10**7), round(rng.uniform(0, 1e4), 3)])
                   for name in rng.sample(names, k=rng.randint(0, len(names)))}
        account_id = f"acc-{i % 3}"
        target_id = str(uuid.uuid4()) if kind == "post" else None
        request_id = uuid7()
        plans.append((request_id, kind, "1d" if kind == "post" else "audience", target_id,
                      str(uuid.uuid4()) if kind == "post" else None, account_id, platform,
                      "p-1" if kind == "post" else None, now if kind == "post" else None, str(uuid.uuid4()),
                      now, now, "requested", 1))
        payloads.append(InsightsCollected(request_id=str(request_id), kind=kind, account_id=account_id,
                                          platform=platform, target_id=target_id, metrics=metrics, collected_at=now))
    async with db.pool.acquire() as conn:
        await conn.copy_records_to_table("collections", records=plans, columns=(
            "request_id", "kind", "stage", "target_id", "post_id", "account_id", "platform", "platform_post_id",
            "published_at", "correlation_id", "planned_at", "due_at", "state", "attempts"))
    outcome = await answer(db, *payloads)
    assert outcome.total_samples == sum(len(p.metrics) for p in payloads) and outcome.duplicates == 0
    async with db.pool.acquire() as conn:
        stored = {str(r["request_id"]): r for r in await conn.fetch("SELECT * FROM readings")}
        assert await conn.fetchval("SELECT count(*) FROM samples") == outcome.total_samples
    events = {e.id: spec_for_type(e.type).parse(e) for e in await pending_events(db)}
    assert len(stored) == len(events) == len(payloads)
    close = partial(pytest.approx, rel=1e-12)
    for p in payloads:
        values, reading, event = normalise(p.kind, p.platform, p.metrics), stored[p.request_id], events[p.request_id]
        assert event.raw == p.metrics
        if p.kind == "post":
            then = known.get(p.account_id)
            r = rate(values, then)
            assert {k: reading[k] for k in POST_METRICS if reading[k] is not None} == close(values)
            assert (reading["followers"], reading["basis"]) == (then, r.basis)
            assert reading["interactions"] == close(r.interactions)
            assert reading["denominator"] == (None if r.denominator is None else close(r.denominator))
            assert event.metrics == close(values) and event.engagement_basis == r.basis
            assert event.engagement_rate == (None if r.value is None else close(r.value))
        else:
            assert reading["followers"] == event.followers == values.get("followers")
            assert (reading["interactions"], reading["denominator"], reading["basis"]) == (None, None, None)


async def audience_requested(db, account_id: str, platform: str = "mastodon"):
    """One more audience reading of the account, requested (an earlier one may still wait)."""
    from siar_metrics import collections

    async with db.pool.acquire() as conn, conn.transaction():
        await collections.plan_audience(conn, account_id, platform)
    [(row, _)] = await claim_all(db, requester())
    return row


async def test_one_batch_keeps_the_newest_followers_and_each_platforms_last_answer_and_failure(db):
    """The statement that stores the answers also keeps the accounts' followers and the platforms'
    last collection (the gauge SiarInsightsNotCollected watches); a failure in the same batch is
    noted with them."""
    early, late = await audience_requested(db, "acc-m"), await audience_requested(db, "acc-m")
    target = await publish_target(db, platform="x", account_id="acc-x")
    gone = await requested_first(db, target)
    now = datetime.now(UTC)
    await answer(db, collected(late, {"followers_count": 300}, at=now),
                 collected(early, {"followers_count": 200}, at=now - timedelta(hours=1)),
                 failed(gone, "transient"))
    async with db.pool.acquire() as conn:
        assert await followers(conn, "acc-m") == 300
        times = {r["platform"]: (r["last_collected_at"], r["last_failed_at"]) for r in await store.platform_times(conn)}
    assert times["mastodon"] == (now, None)
    assert times["x"][0] is None and times["x"][1] > now - timedelta(minutes=1)
    await answer(db, failed(gone, "transient"))  # a failure alone, for a request no longer waiting
    async with db.pool.acquire() as conn:
        assert {r["platform"]: r["last_collected_at"] for r in await store.platform_times(conn)}["mastodon"] == now


async def test_concurrent_batches_over_the_same_accounts_and_platforms_all_commit(db):
    """Every batch upserts the same platforms' and accounts' rows: in one order everywhere, so
    that batches stored at once wait for each other, never deadlock."""
    import asyncio

    platforms = ["bluesky", "mastodon", "threads", "x"]
    batches = []
    for i in range(8):
        gone = platforms[i % 4]  # each batch fails on a platform the others collect from
        target = await publish_target(db, platform=gone, account_id=f"acc-{gone}")
        batch = [failed(await requested_first(db, target), "transient")]
        for platform in platforms:
            if platform != gone:
                batch.append(collected(await audience_requested(db, f"acc-{platform}", platform),
                                       {"followers_count": 10 * i}))
        batches.append(batch)

    outcomes = await asyncio.gather(*(answer(db, *batch) for batch in batches))
    assert sum(o.total_samples for o in outcomes) == 24 and sum(sum(o.retrying.values()) for o in outcomes) == 8
    async with db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE kind = 'account'") == 24


async def test_stored_readings_wake_every_replicas_announcer_once_and_duplicates_do_not(db):
    """The announcer's channel is notified in the storing statement when it stored readings
    (another replica's announcer listens), once per batch, and not for answers already stored."""
    import asyncio

    target = await publish_target(db, published_at=datetime.now(UTC) - timedelta(hours=2))
    row = await requested_first(db, target)
    heard: asyncio.Queue = asyncio.Queue()

    def hear(connection, pid, channel, payload) -> None:
        heard.put_nowait(channel)

    async with db.pool.acquire() as listener:
        await listener.add_listener(store.ANNOUNCED_CHANNEL, hear)
        try:
            payload = collected(row, MASTODON)
            await answer(db, payload, payload)
            assert await asyncio.wait_for(heard.get(), 5) == store.ANNOUNCED_CHANNEL
            await answer(db, payload)  # already stored: no reading, no notification
            await asyncio.sleep(0.3)
            assert heard.empty()
        finally:
            await listener.remove_listener(store.ANNOUNCED_CHANNEL, hear)
