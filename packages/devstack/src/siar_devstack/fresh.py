"""A PostgreSQL database and a RabbitMQ virtual host of one's own, removed afterwards: what a test
session, the end-to-end stack, a scaling test and each benchmark run against, so that none of
them shares state with another or touches a Siar running on the same machine.

Synchronous on purpose (the admin statements run on a thread of their own), so that it serves
plain and async fixtures and the benchmarks alike."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg

ADMIN_DSN = os.environ.get("SIAR_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("SIAR_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")


@dataclass(frozen=True)
class Fresh:
    database_url: str
    amqp_url: str
    vhost: str


def unique(prefix: str) -> str:
    """A database / vhost name no other run on this machine uses."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _admin(admin_dsn: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:  # a loop of its own, whether or not the caller runs one
        pool.submit(asyncio.run, run()).result()


@contextmanager
def database(name: str, *, admin_dsn: str = ADMIN_DSN, migrated: bool = True) -> Iterator[str]:
    """A database called ``name`` (with every service's schema unless ``migrated=False``); its URL."""
    _admin(admin_dsn, f'CREATE DATABASE "{name}"')
    url = f"{admin_dsn.rpartition('/')[0]}/{name}"
    try:
        if migrated:
            from siar_runtime.migrate import migrate

            migrate(url, quiet=True)
        yield url
    finally:
        _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rabbitmqctl(*args: str) -> bool:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return False
    return subprocess.run([ctl, "-q", *args], capture_output=True, timeout=60).returncode == 0


@contextmanager
def vhost(name: str, *, amqp_base: str = AMQP_BASE, required: bool = True) -> Iterator[str]:
    """A RabbitMQ virtual host called ``name``; its AMQP URL. Without rabbitmqctl (a broker this
    machine does not administer) it raises, or with ``required=False`` yields the default vhost."""
    if not (_rabbitmqctl("add_vhost", name) and _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")):
        if required:
            raise RuntimeError(f"could not create the RabbitMQ vhost {name!r} (is rabbitmqctl at hand?)")
        yield f"{amqp_base}/"
        return
    try:
        yield f"{amqp_base}/{name}"
    finally:
        _rabbitmqctl("delete_vhost", name)


@contextmanager
def environment(prefix: str, *, admin_dsn: str = ADMIN_DSN, amqp_base: str = AMQP_BASE,
                migrated: bool = True) -> Iterator[Fresh]:
    """A database and a vhost of the same fresh name."""
    name = unique(prefix)
    with database(name, admin_dsn=admin_dsn, migrated=migrated) as url, vhost(name, amqp_base=amqp_base) as amqp:
        yield Fresh(database_url=url, amqp_url=amqp, vhost=name)
