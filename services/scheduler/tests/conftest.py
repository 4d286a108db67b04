"""Fixtures for the content-planning tests: the scheduler in-process with tokens of every role,
three accounts in its read model, and a tap that sees every event the scheduler publishes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aio_pika
import httpx
import pytest
from siar_contracts import EVENTS_EXCHANGE, AccountRegistered
from siar_runtime.db import connect
from siar_scheduler import accounts as read_model
from siar_scheduler.app import create_app
from siar_scheduler.settings import SchedulerSettings

# Editor and reviewer tokens begin alike on purpose: they are still two different people.
TOKENS = {
    "editor": "perpus-editor-token-1",
    "reviewer": "perpus-reviewer-token-1",
    "reviewer2": "kedua-reviewer-token-2",
    "admin": "perpus-admin-token-1",
}
ROLES = {"editor": "editor", "reviewer": "reviewer", "reviewer2": "reviewer", "admin": "admin"}


def auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


@dataclass
class Tap:
    events: list[dict] = field(default_factory=list)

    def of(self, post_id: str, key: str | None = None) -> list[dict]:
        return [e for e in self.events if e["data"].get("post_id") == post_id and (key is None or e["_key"] == key)]

    async def wait(self, predicate, timeout: float = 10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            await asyncio.sleep(0.05)
        raise TimeoutError("no such event")


@asynccontextmanager
async def running_scheduler(database_url: str, amqp_url: str, **overrides):
    # Media links are tried over the network (test_media_links, against a server of its own);
    # the other tests' example links would only add lookups of hosts that do not exist.
    overrides.setdefault("check_media_links", "off")
    # Trying every post's links again before its time is test_recheck's; elsewhere it would ask
    # the test file servers more than the tests count (posts are mostly an hour ahead).
    overrides.setdefault("media_recheck_minutes", 0)
    settings = SchedulerSettings(
        database_url=database_url, amqp_url=amqp_url, environment="test", sweep_seconds=1,
        api_tokens=",".join(f"{TOKENS[who]}:{ROLES[who]}" for who in TOKENS), **overrides,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scheduler", headers=auth("editor"),
                                     timeout=30) as client:
            yield client


@pytest.fixture
async def tap(amqp_url):
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="#")
    found = Tap()

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            found.events.append({**json.loads(message.body), "_key": message.routing_key})

    await queue.consume(collect)
    yield found
    await connection.close()


@pytest.fixture
async def planner(clean_db, amqp_url):
    """Review not required: the README quick start's behaviour."""
    async with running_scheduler(clean_db, amqp_url) as client:
        yield client


@pytest.fixture
async def reviewed(clean_db, amqp_url):
    """SIAR_REVIEW_REQUIRED=true."""
    async with running_scheduler(clean_db, amqp_url, review_required=True) as client:
        yield client


@pytest.fixture
async def accts(clean_db):
    conn = await connect(clean_db, "scheduler")
    ids = {}
    for platform, handle, limits in (
        ("mastodon", "perpustakaan", {"max_characters": 500}),
        ("telegram", "@perpus_palembang", {}),
        ("x", "@perpus", {}),
    ):
        account_id = str(uuid.uuid4())
        await read_model.upsert(conn, AccountRegistered(account_id=account_id, platform=platform, handle=handle,
                                                        status="active", limits=limits))
        ids[platform] = account_id
    await conn.close()
    return ids


@pytest.fixture
async def sql(clean_db):
    conn = await connect(clean_db, "scheduler")
    yield conn
    await conn.close()
