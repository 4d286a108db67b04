"""Every service as its own process, against a database and a RabbitMQ vhost of the end-to-end
tests' own: the stack's consumers must not take the events of the unit tests that run in the same
session (nor those tests find the stack's rows)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aio_pika
import httpx
import pytest
from siar_contracts import EVENTS_EXCHANGE
from siar_devstack import SERVICES, Stack, fresh
from siar_devstack.demo import register_demo_accounts, wait_for_accounts

from tests.tools import free_port

TOKEN = "e2e-test-token-0001"
EDITOR_TOKEN = "e2e-editor-token-0001"
REVIEWER_TOKEN = "e2e-reviewer-token-0001"


@pytest.fixture(scope="session")
def database_url():
    """Overrides the session's: the end-to-end stack's own database."""
    with fresh.database(fresh.unique("siar_e2e")) as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url():
    """Overrides the session's: the end-to-end stack's own vhost ('/' where rabbitmqctl is missing)."""
    with fresh.vhost(fresh.unique("siar_e2e"), required=False) as url:
        yield url


@pytest.fixture(scope="session")
def stack(database_url, amqp_url, tmp_path_factory):
    log_dir = Path(tmp_path_factory.mktemp("logs"))
    stack = Stack(
        database_url=database_url,
        amqp_url=amqp_url,
        ports={name: free_port() for name in SERVICES},
        log_dir=log_dir,
        extra_env={
            "SIAR_API_TOKENS": f"{TOKEN}:admin,{EDITOR_TOKEN}:editor,{REVIEWER_TOKEN}:reviewer",
            "SIAR_ENVIRONMENT": "test",
            # Short leases and timeouts so that recovery after a kill shows within a test.
            "SIAR_LEASE_SECONDS": "6",
            "SIAR_HTTP_TIMEOUT_SECONDS": "2",
            "SIAR_BACKOFF_BASE_SECONDS": "0.2",
            "SIAR_SWEEP_SECONDS": "1",
            # Metrics: a post is read 1 s and 10 s after publication (not 1 h … 30 d), retried quickly.
            "SIAR_COLLECTION_SCHEDULE": "1s,10s",
            "SIAR_COLLECTION_ANSWER_TIMEOUT": "10s",
            "SIAR_COLLECTION_BACKOFF_SECONDS": "0.5",
        },
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        for log in log_dir.glob("*.log"):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {log.name} (last lines)\n" + "\n".join(tail))


@pytest.fixture(scope="session")
def accounts(stack):
    registered = register_demo_accounts(stack.url("publisher"), stack.url("sandbox"), TOKEN)
    wait_for_accounts(stack.url("scheduler"), TOKEN, [a["account_id"] for a in registered])
    return {a["platform"]: a for a in registered}


@pytest.fixture
def api(stack):
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        yield client


@pytest.fixture
def sandbox(stack):
    with httpx.Client(base_url=stack.url("sandbox"), timeout=10) as client:
        client.post("/_sandbox/reset").raise_for_status()
        yield client


class EventTap:
    """An independent subscriber: its own exclusive queue bound to every Siar event."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.events: list[dict] = []

    async def __aenter__(self) -> EventTap:
        self.connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self.connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append({**json.loads(message.body), "_routing_key": message.routing_key})

        await queue.consume(collect)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    def of(self, correlation_id: str) -> list[dict]:
        return [e for e in self.events if e.get("correlationid") == correlation_id]


@pytest.fixture
async def tap(amqp_url):
    async with EventTap(amqp_url) as tap:
        yield tap


async def wait_until(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")
