"""An attempt's lease on the real database, with the real worker and the real YouTube adapter
against the sandbox: an attempt that runs longer than its lease (YouTube processing the video)
keeps it, so no other claim takes the delivery over while it runs; a worker that stops
(a killed process) leaves its delivery to be reclaimed once the lease ends, and the next attempt
finds the video instead of uploading it again; a worker whose delivery was taken over stops its
calls and never renews the new owner's lease. No mocks."""

from __future__ import annotations

import asyncio
import time

import pytest
from siar_publisher.adapters import ADAPTERS
from siar_sandbox.settings import Settings

from services.publisher.tests.delivery_kit import SANDBOX, delivery_kit, eventually, video

LEASE = 1.2  # seconds; renewed every 0.4 s
PROCESSING = 3.0  # seconds YouTube takes to process the video: longer than two leases
YOUTUBE = {
    "platform": "youtube", "handle": "@perpuskota", "base_url": f"{SANDBOX}/youtube",
    "credentials": {"access_token": "perpuskota.ya29-access", "refresh_token": "perpuskota.1//refresh",
                    "client_id": "1234.apps", "client_secret": "gsecret"},
}  # fmt: skip


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    # The registered adapter, polling YouTube's processing every 0.2 s (not 5 s) for up to 30 s.
    monkeypatch.setattr(ADAPTERS["youtube"], "poll_seconds", 0.2)
    monkeypatch.setattr(ADAPTERS["youtube"], "processing_wait_seconds", 30.0)


def kit(clean_db):
    return delivery_kit(clean_db, Settings(media_processing_seconds=PROCESSING), YOUTUBE,
                        lease_seconds=LEASE, http_timeout_seconds=0.5)  # fmt: skip


def uploads(calls) -> int:
    return sum(1 for method, path in calls if method == "POST" and path.endswith("/upload/youtube/v3/videos"))


async def test_an_attempt_longer_than_its_lease_is_not_taken_over(clean_db):
    async with kit(clean_db) as k:
        await k.add_delivery("t1", "youtube", "Dongeng untuk anak-anak.", [video()], title="Dongeng Sabtu Pagi")
        rows = await k.claim()
        assert [r["target_id"] for r in rows] == ["t1"]
        started = time.monotonic()
        k.worker.start_attempts(rows)
        looked = 0
        while k.worker.in_flight:
            assert await k.claim_elsewhere() == [], "another worker took over an attempt still under way"
            looked += 1
            await asyncio.sleep(0.1)
        took = time.monotonic() - started
        assert took > 2 * LEASE and looked > 10  # the attempt outlived its first lease twice over
        delivery = await k.delivery("t1")
        assert delivery["state"] == "published" and delivery["attempts"] == 1
        assert delivery["lease_until"] is None
        assert uploads(k.calls) == 1
        assert [e["target_id"] for e in await k.events("post.published")] == ["t1"]
        assert k.sample("siar_publisher_leases_lost_total", platform="youtube") == 0


async def test_a_stopped_worker_leaves_its_delivery_to_be_reclaimed_after_the_lease(clean_db):
    async with kit(clean_db) as k:
        await k.add_delivery("t1", "youtube", "Dongeng untuk anak-anak.", [video()], title="Dongeng Sabtu Pagi")
        k.worker.start_attempts(await k.claim())
        # The video is up and YouTube is processing it.
        await eventually(lambda: any(m == "GET" and p.endswith("/youtube/v3/videos") for m, p in k.calls))
        for task in list(k.worker._tasks):  # the process dies: its attempt and its renewals with it
            task.cancel()
        await k.worker.drain()
        stopped = time.monotonic()
        assert await k.claim_elsewhere() == []  # the lease still runs
        while not (taken := await k.claim_elsewhere()):
            assert time.monotonic() - stopped < LEASE + 1.0, "the lease of a dead worker never ended"
            await asyncio.sleep(0.05)
        [row] = taken
        assert row["attempts"] == 2 and row["recovering"]  # the next attempt looks before sending
        assert row["progress"]["youtube_session"]["uri"]


async def test_a_worker_whose_delivery_was_taken_over_stops_and_renews_nothing(clean_db):
    async with kit(clean_db) as k:
        await k.add_delivery("t1", "youtube", "Dongeng untuk anak-anak.", [video()], title="Dongeng Sabtu Pagi")
        k.worker.start_attempts(await k.claim())
        await eventually(lambda: uploads(k.calls) > 0)
        # The lease ran out (the database was away, say) and another worker claimed the delivery.
        async with k.db.pool.acquire() as conn:
            await conn.execute("UPDATE deliveries SET attempts = attempts + 1,"
                               " lease_until = clock_timestamp() + interval '1 hour' WHERE target_id = 't1'")
            theirs = await conn.fetchval("SELECT lease_until FROM deliveries WHERE target_id = 't1'")
        started = time.monotonic()
        while k.worker.in_flight:
            assert time.monotonic() - started < LEASE, "the attempt went on after its delivery was taken over"
            await asyncio.sleep(0.02)
        await asyncio.sleep(LEASE)  # a renewal would have come by now
        delivery = await k.delivery("t1")
        assert delivery["lease_until"] == theirs and delivery["state"] == "in_flight"
        assert k.sample("siar_publisher_leases_lost_total", platform="youtube") == 1
        assert await k.events("post.published") == [] and await k.events("post.failed") == []
