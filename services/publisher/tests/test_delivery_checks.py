"""An attempt that must first look for an earlier attempt's post (its outcome was unknown) and
cannot — X answers the timeline read with 429 — has checked nothing: the retry it schedules
still looks first, instead of sending blindly and posting twice. Real worker, real database, the
sandbox in-process; no mocks."""

from __future__ import annotations

from siar_sandbox.settings import Settings

from services.publisher.tests.delivery_kit import SANDBOX, delivery_kit, eventually

X = {"platform": "x", "handle": "perpuskota", "base_url": f"{SANDBOX}/x",
     "credentials": {"access_token": "perpuskota.x-access"}}  # fmt: skip


def tweets_sent(calls) -> int:
    return sum(1 for method, path in calls if method == "POST" and path.endswith("/2/tweets"))


async def test_a_check_that_failed_is_made_again_before_sending(clean_db):
    async with delivery_kit(clean_db, Settings(), X) as k:
        await k.add_delivery("t1", "x", "Jam buka perpustakaan minggu ini: 08.00-16.00", [])
        async with k.db.pool.acquire() as conn:  # an earlier attempt timed out: outcome unknown
            await conn.execute("UPDATE deliveries SET recovering = true WHERE target_id = 't1'")
        faults = await k.client.put(f"{SANDBOX}/_sandbox/faults", json={"platform": "x", "calls": "reads",
                                                                         "sequence": ["429"]})  # fmt: skip
        assert faults.status_code == 200, faults.text
        k.worker.start_attempts(await k.claim())
        await eventually(lambda: not k.worker.in_flight)
        delivery = await k.delivery("t1")
        assert delivery["state"] == "pending" and delivery["error_class"] == "rate_limited"
        assert delivery["recovering"] is True  # the next attempt looks again first
        assert tweets_sent(k.calls) == 0 and ("GET", "/x/2/users/me") in k.calls
        # X limits each endpoint on its own: a 429 on the read holds this post, not the account.
        async with k.db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT paused_until FROM accounts WHERE account_id = 'a1'") is None


async def test_a_delivery_whose_attempts_never_finish_is_given_up(clean_db):
    # Each attempt took the publisher down (out of memory on a huge video, say): reclaimed after
    # its lease, again and again, it would take every replica down with it. Past max_attempts,
    # a reclaim fails it, saying why.
    async with delivery_kit(clean_db, Settings(), X, max_attempts=3) as k:
        await k.add_delivery("t1", "x", "Jam buka perpustakaan minggu ini: 08.00-16.00", [])
        async with k.db.pool.acquire() as conn:  # the third attempt's process died mid-call
            await conn.execute("UPDATE deliveries SET state = 'in_flight', attempts = 3, call_started_at = now(),"
                               " lease_until = now() - interval '1 second' WHERE target_id = 't1'")
        k.worker.start_attempts(await k.claim())
        await eventually(lambda: not k.worker.in_flight)
        delivery = await k.delivery("t1")
        assert delivery["state"] == "failed" and delivery["error_class"] == "outcome_unknown"
        assert "never finished" in delivery["reason"]
        assert tweets_sent(k.calls) == 0
