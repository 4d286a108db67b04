"""``python -m siar_runtime.migrate --check``: what the Kubernetes init containers wait on."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import asyncpg
from siar_runtime.migrate import SERVICES, pending

ADMIN_DSN = os.environ.get("SIAR_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def check(url: str, *services: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SIAR_DATABASE_URL"} | {"SIAR_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "siar_runtime.migrate", "--check", *services],
                          env=env, capture_output=True, text=True, timeout=120)


async def test_check_passes_once_every_migration_is_applied(database_url):
    assert pending(database_url) == []
    assert check(database_url).returncode == 0


async def test_check_fails_while_migrations_are_pending():
    name = f"siar_pending_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{ADMIN_DSN.rpartition('/')[0]}/{name}"
        assert pending(url) == list(SERVICES)
        result = check(url, "scheduler")
        assert result.returncode != 0 and "scheduler" in result.stderr
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
