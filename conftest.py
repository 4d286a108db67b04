"""Fixtures shared by every test: a database of its own per test session, migrated with dbmate,
and a RabbitMQ virtual host of its own, so tests never touch a running local Siar."""

from __future__ import annotations

import os

import aio_pika
import asyncpg
import pytest
from siar_devstack import fresh
from siar_runtime.definitions import definitions

# Every pooled connection released in a test (and in the services the e2e tests start) is checked
# for session state it must not keep (siar_runtime.db).
os.environ.setdefault("SIAR_DB_CHECK_SESSION", "1")
# The tests' media hosts and sandbox listen on this machine, which a media link may otherwise not
# lead to (siar_runtime.egress; test_mediafetch and test_media_links check the refusals).
os.environ.setdefault("SIAR_ALLOWED_PRIVATE_ADDRESSES", "127.0.0.0/8,::1")

NAME = fresh.unique("siar_test")  # this session's database and vhost (SIAR_TEST_ADMIN_DSN / SIAR_TEST_AMQP: fresh)


@pytest.fixture(scope="session")
def database_url():
    with fresh.database(NAME) as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url():
    """A vhost of this session's own where rabbitmqctl is at hand (CI, this machine); else '/'."""
    with fresh.vhost(NAME, required=False) as url:
        yield url


async def _purge_queues(amqp_url: str) -> None:
    """Empty the services' queues (and dead-letter queues) of this session's vhost: an event an
    earlier test left there (a survey.opened the feedback tests emitted) is not the next test's."""
    connection = await aio_pika.connect(amqp_url)
    try:
        for queue in definitions()["queues"]:
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(queue["name"], passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue  # not declared yet in this session: nothing in it
            await declared.purge()
            await channel.close()
    finally:
        await connection.close()


@pytest.fixture
async def clean_db(database_url, amqp_url):
    """Empty every service table (keeping the migrations) and every service queue before a test
    that needs a blank slate."""
    await _purge_queues(amqp_url)
    conn = await asyncpg.connect(database_url)
    tables = await conn.fetch(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('scheduler', 'publisher', 'feedback', 'metrics')"
        " AND tablename <> 'schema_migrations'"
    )
    if tables:
        names = ", ".join(f'"{t["schemaname"]}"."{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} CASCADE")
    await conn.close()
    return database_url
