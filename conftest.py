"""Fixtures shared by every test: a database of its own per test session, migrated with dbmate,
and a RabbitMQ virtual host of its own, so tests never touch a running local Siar."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import asyncpg
import pytest

ADMIN_DSN = os.environ.get("SIAR_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("SIAR_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")
SUFFIX = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _dsn_for(name: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def database_url():
    from siar_runtime.migrate import migrate

    name = f"siar_test_{SUFFIX}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _dsn_for(name)
    migrate(url, quiet=True)
    yield url
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def _rabbitmqctl(*args: str) -> bool:
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        return False
    result = subprocess.run([ctl, *args], capture_output=True, text=True, timeout=60)
    return result.returncode == 0


@pytest.fixture(scope="session")
def amqp_url():
    """A vhost of this session's own where rabbitmqctl is at hand (CI, this machine); else '/'."""
    vhost = f"siar_test_{SUFFIX}"
    if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"):
        yield f"{AMQP_BASE}/{vhost}"
        _rabbitmqctl("delete_vhost", vhost)
    else:
        yield f"{AMQP_BASE}/"


@pytest.fixture
async def clean_db(database_url):
    """Empty every service table (keeping the migrations) before a test that needs a blank slate."""
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
