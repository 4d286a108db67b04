"""The backup and restore of docs/operations.md, run as written against a scratch database with this
machine's pg_dump, psql and pg_restore: a backup taken before an upgrade restores over the upgraded
database (whose newer tables `pg_restore --clean` could not drop), and the migrations then apply
again."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import asyncpg
from siar_devstack import fresh
from siar_runtime.migrate import SERVICES, migrate

from tests.tools import require

from .inventory import ROOT

GUIDE = (ROOT / "docs" / "operations.md").read_text()
SECTION = GUIDE[GUIDE.index("## Back up and restore"):GUIDE.index("## Read the dashboards")]
NEWER = "20261205000001_cancellations.sql"  # a migration that adds a table to an existing schema


def documented(program: str) -> str:
    """The one command line of the section that runs ``program`` (continuation lines joined)."""
    blocks = "\n".join(re.findall(r"```sh\n(.*?)```", SECTION, re.S)).replace("\\\n", " ")
    [line] = [line for line in blocks.splitlines() if re.search(rf"exec -T postgres {program}\b", line)]
    return re.sub(r"\s+", " ", line[line.index(program):]).strip()


def run(*args: str, stdin: Path | None = None) -> subprocess.CompletedProcess:
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as source:
        return subprocess.run(args, stdin=source, capture_output=True, text=True, timeout=120)


async def fetch(url: str, query: str) -> list:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


def test_the_guide_backs_up_every_schema_and_restores_over_newer_tables():
    dump = documented("pg_dump")
    assert "--format=custom" in dump and all(f"-n {s}" in dump for s in SERVICES), dump
    drop = re.search(r"-c '(DROP SCHEMA [^']+)'", documented("psql")).group(1)
    assert set(re.findall(r"\w+", drop.split("SCHEMA", 1)[1])) >= {*SERVICES, "CASCADE"}, drop
    restore = documented("pg_restore")
    assert "--clean" not in restore, "pg_restore --clean cannot drop a schema a newer table depends on"
    assert {"--exit-on-error", "--single-transaction"} <= set(restore.split()), restore
    stop = re.search(r"docker compose -f compose\.yaml stop ([\w ]+)", SECTION).group(1).split()
    assert set(stop) == set(SERVICES), "every service stops before the restore"


async def test_the_documented_restore_undoes_an_upgrade(tmp_path):
    for program in ("pg_dump", "pg_restore", "psql"):
        if shutil.which(program) is None:
            require(program, "postgresql-client")
    older = tmp_path / "older"
    for service in SERVICES:  # the release before NEWER: the publisher's migrations up to it
        newer = (lambda _, names: [n for n in names if n >= NEWER[:14]]) if service == "publisher" else None
        shutil.copytree(ROOT / "services" / service / "migrations", older / "services" / service / "migrations",
                        ignore=newer)
    drop = re.search(r"-c '(DROP SCHEMA [^']+)'", documented("psql")).group(1)
    restore_flags = [f for f in documented("pg_restore").split() if f.startswith("--")]

    with fresh.database(fresh.unique("siar_restore"), migrated=False) as url:
        # The version before the upgrade, with a post and a backup of it.
        migrate(url, root=older, quiet=True)
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE TABLE scheduler.kept_through_restore (v text); "
                           "INSERT INTO scheduler.kept_through_restore VALUES ('before the upgrade')")
        await conn.close()
        backup = tmp_path / "siar.dump"
        dumped = run("pg_dump", "-d", url, "--format=custom", *[a for s in SERVICES for a in ("-n", s)],
                     "-f", str(backup))
        assert dumped.returncode == 0, dumped.stderr

        # The upgrade: the newer migration adds publisher.cancellations, which is written to.
        migrate(url, quiet=True)
        await fetch(url, "INSERT INTO publisher.cancellations (target_id, reason) VALUES ('t-1', 'x') RETURNING 1")

        # What the guide used to say fails on the newer table, and leaves the database half restored.
        old_way = run("pg_restore", "-d", url, "--clean", "--if-exists", stdin=backup)
        assert old_way.returncode != 0 and "cannot drop schema publisher" in old_way.stderr, old_way.stderr

        # What it says now: drop the schemas, restore in one transaction, check the exit code.
        dropped = run("psql", "-d", url, "-v", "ON_ERROR_STOP=1", "-c", drop)
        assert dropped.returncode == 0, dropped.stderr
        restored = run("pg_restore", "-d", url, *restore_flags, stdin=backup)
        assert restored.returncode == 0, restored.stderr

        assert await fetch(url, "SELECT v FROM scheduler.kept_through_restore") == [("before the upgrade",)]
        assert await fetch(url, "SELECT to_regclass('publisher.cancellations')") == [(None,)]
        applied = await fetch(url, "SELECT version FROM publisher.schema_migrations")
        assert NEWER.split("_")[0] not in {v for (v,) in applied}

        # The next start-up (the new image's migrate) brings the restored database forward again.
        migrate(url, quiet=True)
        assert await fetch(url, "SELECT count(*) FROM publisher.cancellations") == [(0,)]
