"""A Reel that Instagram processes longer than one attempt waits for it, on the real database with
the real worker and the real Instagram adapter against the sandbox: each attempt that finds the
container still IN_PROGRESS has the delivery look again later without counting an attempt (nor
a send in the account's rate log), says so with post.retrying, and polls the same container;
the wait ends, with a clear reason, when the container's 24 hours are up. No mocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from siar_publisher.adapters import ADAPTERS
from siar_sandbox import instagram as ig_sandbox
from siar_sandbox.settings import Settings

from services.publisher.tests.delivery_kit import SANDBOX, delivery_kit, video

INSTAGRAM = {
    "platform": "instagram", "handle": "perpuskota", "base_url": f"{SANDBOX}/instagram/v21.0",
    "credentials": {"access_token": "perpuskota.secret"},
    "settings": {"ig_user_id": ig_sandbox.user_id("perpuskota")},
}  # fmt: skip
TEXT = "Cuplikan acara #perpustakaan"


@pytest.fixture(autouse=True)
def short_window(monkeypatch):
    # The registered adapter waits 0.3 s per attempt (not 20 s): far shorter than the processing.
    monkeypatch.setattr(ADAPTERS["instagram"], "processing_wait_seconds", 0.3)
    monkeypatch.setattr(ADAPTERS["instagram"], "poll_first_delay", 0.05)


def kit(clean_db, processing: float):
    # Two attempts at most: processing-waits that counted would give up after the second.
    return delivery_kit(clean_db, Settings(meta_video_processing_seconds=processing), INSTAGRAM,
                        max_attempts=2, backoff_base_seconds=0.01, backoff_max_seconds=0.01)  # fmt: skip


async def run_once(k) -> dict:
    """Claim the delivery (due now) and run its attempt to the end."""
    async with k.db.pool.acquire() as conn:
        await conn.execute("UPDATE deliveries SET next_attempt_at = clock_timestamp() WHERE state = 'pending'")
    rows = await k.claim()
    assert len(rows) == 1, rows
    await k.worker.attempt(rows[0])
    return await k.delivery(rows[0]["target_id"])


def containers_made(k) -> int:
    return sum(1 for method, path in k.calls if method == "POST" and path.endswith("/media"))


async def test_a_reel_still_processing_waits_without_using_up_attempts(clean_db):
    async with kit(clean_db, processing=2.5) as k:
        await k.add_delivery("t1", "instagram", TEXT, [video()])
        waits = 0
        while (delivery := await run_once(k))["state"] == "pending":
            waits += 1
            assert delivery["attempts"] == 0  # not counted
            assert delivery["reason"].startswith("Instagram is still processing the video; Siar checks again at ")
            now = datetime.now(UTC)
            assert now + timedelta(seconds=25) < delivery["next_attempt_at"] <= now + timedelta(seconds=31)
            assert delivery["progress"]["container"]
            assert waits < 50
        assert waits >= 3  # more than max_attempts: the old budget would have failed it
        assert delivery["state"] == "published", (delivery["state"], delivery["reason"])
        assert delivery["attempts"] == 1 and delivery["url"]
        assert containers_made(k) == 1  # every attempt polled the same container
        retrying = await k.events("post.retrying")
        assert len(retrying) == waits
        assert {e["error_class"] for e in retrying} == {"transient"} and {e["attempt"] for e in retrying} == {1}
        assert all("still processing the video" in e["reason"] for e in retrying)
        assert await k.events("post.failed") == []
        assert [e["target_id"] for e in await k.events("post.published")] == ["t1"]
        # Neither a failed call for the alerts nor a send in the rate log.
        assert k.sample("siar_publisher_attempts_total", platform="instagram", outcome="transient") == 0
        assert k.sample("siar_publisher_processing_waits_total", platform="instagram") == waits
        async with k.db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM account_sends WHERE account_id = 'a1'") == 1


async def test_a_container_still_processing_after_24_hours_fails_with_a_clear_reason(clean_db):
    async with kit(clean_db, processing=600) as k:
        await k.add_delivery("t1", "instagram", TEXT, [video()])
        delivery = await run_once(k)
        assert delivery["state"] == "pending" and delivery["attempts"] == 0
        # A day goes by (for Siar: the sandbox still reports the container IN_PROGRESS).
        made = datetime.now(UTC) - timedelta(hours=24, minutes=1)
        async with k.db.pool.acquire() as conn:
            await conn.execute(
                "UPDATE deliveries SET progress = progress || jsonb_build_object('container_made_at', $1::text)"
                " WHERE target_id = 't1'", made.isoformat())  # fmt: skip
        delivery = await run_once(k)
        assert delivery["state"] == "failed"
        assert delivery["reason"].startswith("gave up: Instagram was still processing the media at ")
        assert containers_made(k) == 1
        [failed] = await k.events("post.failed")
        assert failed["reason"] == delivery["reason"] and "IN_PROGRESS" in (failed["detail"] or "")


async def test_waiting_for_processing_ends_two_days_after_the_first_attempt_whatever_the_container(clean_db):
    # A container that expired unseen is made again (a fresh 24 hours by its own date); these
    # waits count no attempt, so without a ceiling a stuck Reel would be waited for for ever.
    async with kit(clean_db, processing=600) as k:
        await k.add_delivery("t1", "instagram", TEXT, [video()])
        await run_once(k)
        async with k.db.pool.acquire() as conn:  # the first attempt was two days ago
            await conn.execute("UPDATE deliveries SET first_attempt_at = now() - interval '48 hours 1 minute'"
                               " WHERE target_id = 't1'")
        delivery = await run_once(k)
        assert delivery["state"] == "failed"
        assert delivery["reason"].startswith("gave up: Instagram was still processing the media at ")


async def test_a_delivery_cancelled_while_instagram_processes_is_not_looked_at_again(clean_db):
    from siar_publisher import store

    async with kit(clean_db, processing=600) as k:
        await k.add_delivery("t1", "instagram", TEXT, [video()])
        rows = await k.claim()
        async with k.db.pool.acquire() as conn:
            await store.cancel(conn, ["t1"], "acara dibatalkan")  # while the attempt is under way
        await k.worker.attempt(rows[0])
        delivery = await k.delivery("t1")
        assert (delivery["state"], delivery["reason"]) == ("cancelled", "acara dibatalkan")
        assert await k.events("post.retrying") == []
