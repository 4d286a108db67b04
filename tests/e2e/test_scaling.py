"""Two schedulers and three publishers side by side, each its own process, one database and one
broker: every post is published exactly once while the platform fails some calls."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from siar_devstack import Stack, fresh
from siar_devstack.demo import (
    DEMO_MASTODON_TOKEN,
    DEMO_TELEGRAM_CHAT,
    DEMO_TELEGRAM_TOKEN,
    wait_for_accounts,
)

from tests.tools import free_port

from .conftest import TOKEN

pytestmark = pytest.mark.e2e

REPLICAS = {"scheduler": 2, "publisher": 3}
POSTS = 40


@pytest.fixture(scope="module")
def isolated():
    """A database and a vhost of this test's own: the session's stack must not take its events."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("needs rabbitmqctl for a vhost of its own (the session stack shares '/')")
    with fresh.environment("siar_scale") as env:
        yield env.database_url, env.amqp_url


@pytest.fixture(scope="module")
def scaled(isolated, tmp_path_factory):
    database_url, amqp_url = isolated
    log_dir = Path(tmp_path_factory.mktemp("scaled-logs"))
    instances = ["sandbox"] + [n if i == 1 else f"{n}-{i}" for n, count in REPLICAS.items() for i in range(1, count + 1)]
    stack = Stack(
        database_url=database_url,
        amqp_url=amqp_url,
        ports={instance: free_port() for instance in instances},
        log_dir=log_dir,
        services=("sandbox", "scheduler", "publisher"),
        replicas=REPLICAS,
        extra_env={
            "SIAR_API_TOKENS": f"{TOKEN}:admin",
            "SIAR_ENVIRONMENT": "test",
            "SIAR_BACKOFF_BASE_SECONDS": "0.2",
            "SIAR_BACKOFF_MAX_SECONDS": "2",
            "SIAR_SWEEP_SECONDS": "1",
            # Five processes on a PostgreSQL that other test sessions share: small pools.
            "SIAR_DB_POOL_MIN": "1",
            "SIAR_DB_POOL_MAX": "4",
        },
    )
    try:
        stack.start(timeout=60)
        yield stack
    finally:
        stack.stop()
        for log in sorted(log_dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-8:]
            print(f"--- {log.name} (last lines)\n" + "\n".join(tail))


async def counter(client: httpx.AsyncClient, url: str, metric: str) -> float:
    text = (await client.get(f"{url}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(metric + "{"))


async def test_every_post_is_published_exactly_once_by_replicas_side_by_side(scaled):
    assert [p.name for p in scaled.replicas("scheduler")] == ["scheduler", "scheduler-2"]
    assert [p.name for p in scaled.replicas("publisher")] == ["publisher", "publisher-2", "publisher-3"]
    schedulers = [p.url for p in scaled.replicas("scheduler")]
    publishers = [p.url for p in scaled.replicas("publisher")]
    sandbox = scaled.url("sandbox")
    client = httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    async with client:
        # The demo accounts, with a publishing rate above Telegram's default 20 a minute per channel.
        accounts = []
        for body in (
            {"platform": "mastodon", "base_url": f"{sandbox}/mastodon",
             "credentials": {"access_token": DEMO_MASTODON_TOKEN}},
            {"platform": "telegram", "base_url": f"{sandbox}/telegram",
             "credentials": {"bot_token": DEMO_TELEGRAM_TOKEN}, "settings": {"chat_id": DEMO_TELEGRAM_CHAT}},
        ):
            response = await client.post(f"{publishers[1]}/v1/accounts",
                                         json=body | {"rate_limit": {"limit": 1000, "window_seconds": 60}})
            assert response.status_code == 201, response.text
            accounts.append(response.json())
        targets = [a["account_id"] for a in accounts]
        for url in schedulers:
            await asyncio.to_thread(wait_for_accounts, url, TOKEN, targets)

        # The platform fails one Mastodon call in ten with a 500: retries go through the replicas.
        response = await client.put(f"{sandbox}/_sandbox/faults",
                                    json={"platform": "mastodon", "error_rates": {"500": 0.1}, "seed": 7})
        response.raise_for_status()

        # Every post due within the same two seconds, scheduled alternately through both schedulers.
        due = datetime.now(UTC) + timedelta(seconds=3)
        run = uuid.uuid4().hex[:6]
        responses = await asyncio.gather(*(
            client.post(f"{schedulers[n % 2]}/v1/posts", json={
                "text": f"Kabar perpustakaan nomor {n} ({run})",
                "targets": targets,
                "scheduled_at": (due + timedelta(milliseconds=50 * n)).isoformat(),
            })
            for n in range(POSTS)
        ))
        assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
        post_ids = [r.json()["post_id"] for r in responses]

        async def statuses() -> list[str]:
            bodies = await asyncio.gather(*(client.get(f"{schedulers[0]}/v1/posts/{pid}") for pid in post_ids))
            return [b.json()["status"] for b in bodies]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while set(current := await statuses()) != {"published"}:
            assert loop.time() < deadline, f"not all published: {current}"
            await asyncio.sleep(0.5)

        # Exactly once on the platform: one post per (account, text), as many as targets.
        received = (await client.get(f"{sandbox}/_sandbox/posts")).json()["posts"]
        mine = [p for p in received if run in p["text"]]
        assert len(mine) == POSTS * len(targets)
        assert len({(p["platform"], p["account"], p["text"]) for p in mine}) == len(mine), "a post went out twice"
        stats = (await client.get(f"{sandbox}/_sandbox/stats")).json()
        for platform, per_account in stats["duplicates"].items():
            for account, counts in per_account.items():
                assert counts["duplicate_posts"] == 0, (platform, account, counts)

        # The work was shared, and each replica's own counters add up to the whole.
        async def by_replica(urls: list[str], metric: str) -> list[float]:
            return [await counter(client, url, metric) for url in urls]

        while sum(by_publisher := await by_replica(publishers, "siar_publisher_published_total")) < len(mine):
            assert loop.time() < deadline + 5, by_publisher
            await asyncio.sleep(0.2)
        by_scheduler = await by_replica(schedulers, "siar_scheduler_targets_dispatched_total")
        print(f"published per publisher replica: {by_publisher}; dispatched per scheduler replica: {by_scheduler}")
        assert sum(by_publisher) == sum(by_scheduler) == len(mine)
        assert sum(1 for n in by_publisher if n > 0) >= 2, f"one replica did all the work: {by_publisher}"
