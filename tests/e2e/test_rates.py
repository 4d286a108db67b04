"""Per-account rates: held across the publisher, and a 429 pauses that account alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .conftest import wait_until

pytestmark = pytest.mark.e2e


def connect_mastodon(api, stack, token: str, rate: dict | None = None) -> str:
    body = {"platform": "mastodon", "base_url": f"{stack.url('sandbox')}/mastodon",
            "credentials": {"access_token": token}}
    if rate:
        body["rate_limit"] = rate
    response = api.post(f"{stack.url('publisher')}/v1/accounts", json=body)
    assert response.status_code in (200, 201), response.text
    account_id = response.json()["account_id"]
    wait_for_scheduler(api, stack, account_id)
    return account_id


def wait_for_scheduler(api, stack, account_id: str) -> None:
    import time

    for _ in range(100):
        known = api.get(f"{stack.url('scheduler')}/v1/accounts").json()["accounts"]
        if any(a["account_id"] == account_id for a in known):
            return
        time.sleep(0.1)
    raise TimeoutError("the scheduler never learnt of the account")


def schedule_many(api, stack, account_id: str, prefix: str, n: int, when: datetime) -> list[str]:
    ids = []
    for i in range(n):
        response = api.post(f"{stack.url('scheduler')}/v1/posts",
                            json={"text": f"{prefix} {i}", "targets": [account_id], "scheduled_at": when.isoformat()})
        assert response.status_code == 201, response.text
        ids.append(response.json()["post_id"])
    return ids


def all_published(api, stack, ids):
    return all(api.get(f"{stack.url('scheduler')}/v1/posts/{pid}").json()["status"] == "published" for pid in ids)


async def test_an_account_never_goes_above_its_configured_rate(stack, accounts, api, sandbox):
    account_id = connect_mastodon(api, stack, "ratelimited.token", {"limit": 4, "window_seconds": 2})
    assert api.get(f"{stack.url('publisher')}/v1/accounts/{account_id}").json()["rate_limit"] == 4
    ids = schedule_many(api, stack, account_id, "Jadwal", 12, datetime.now(UTC))
    await wait_until(lambda: all_published(api, stack, ids), timeout=30, interval=0.3)

    times = sorted(
        datetime.fromisoformat(p["received_at"])
        for p in sandbox.get("/_sandbox/posts", params={"account": "ratelimited"}).json()["posts"]
    )
    assert len(times) == 12
    for i, start in enumerate(times):
        in_window = [t for t in times[i:] if t - start < timedelta(seconds=2)]
        assert len(in_window) <= 4, f"{len(in_window)} posts within 2 s from {start}"
    assert times[-1] - times[0] >= timedelta(seconds=4)  # 12 posts at 4 per 2 s need two full windows


async def test_a_429_pauses_that_account_alone(stack, accounts, api, sandbox):
    slow = connect_mastodon(api, stack, "throttled.token")
    sandbox.put("/_sandbox/faults", json={
        "platform": "mastodon", "account": "throttled", "sequence": ["429"], "retry_after_seconds": 6,
    }).raise_for_status()
    sandbox.put("/_sandbox/limits", json={"platform": "mastodon", "limit": 1000000, "window_seconds": 300})
    now = datetime.now(UTC)
    throttled = schedule_many(api, stack, slow, "Ditahan", 1, now)
    others = schedule_many(api, stack, accounts["mastodon"]["account_id"], "Lancar", 3, now)

    await wait_until(lambda: all_published(api, stack, others), timeout=15, interval=0.2)
    body = api.get(f"{stack.url('scheduler')}/v1/posts/{throttled[0]}").json()
    assert body["status"] == "publishing"  # still waiting for its account, the others went out
    assert body["targets"][0]["error_class"] == "rate_limited"

    # A post due for the paused account meanwhile is not tried before the pause ends, and says so
    # (it waited as 'due' without a reason).
    later = schedule_many(api, stack, slow, "Menunggu", 1, datetime.now(UTC))

    def waiting():
        target = api.get(f"{stack.url('scheduler')}/v1/posts/{later[0]}").json()["targets"][0]
        return target if (target["reason"] or "").startswith("waiting: Mastodon asked Siar to slow down") else None

    target = await wait_until(waiting, timeout=5, interval=0.1)
    assert target["status"] == "retrying" and target["error_class"] == "rate_limited"
    throttled += later

    await wait_until(lambda: all_published(api, stack, throttled), timeout=30, interval=0.3)
    delivery = api.get(f"{stack.url('publisher')}/v1/deliveries/{body['targets'][0]['target_id']}").json()
    assert delivery["attempts"] == 2
