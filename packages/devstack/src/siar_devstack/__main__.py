"""``python -m siar_devstack``: migrate, start every service as a process, register the demo
accounts on the sandbox, and keep running until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from siar_runtime.auth import parse_tokens

from .demo import create_demo_survey, register_demo_accounts, wait_for_accounts
from .stack import Stack

DEV_TOKEN = "siar-dev-token"
# Set for each process by the stack itself; every other SIAR_ setting given to `make run`
# (SIAR_REVIEW_REQUIRED=true, SIAR_API_TOKENS=…) reaches every service.
STACK_OWN = frozenset({"SIAR_DATABASE_URL", "SIAR_AMQP_URL", "SIAR_HTTP_HOST", "SIAR_HTTP_PORT"})


def settings_given(environ: Mapping[str, str]) -> dict[str, str]:
    """The SIAR_ settings to pass on to the services. Posts are first read a minute after
    publication (not an hour) unless the schedule is given, so that the metrics reports show the
    demo posts while someone is trying Siar."""
    given = {k: v for k, v in environ.items() if k.startswith("SIAR_") and k not in STACK_OWN}
    return {"SIAR_COLLECTION_SCHEDULE": "1m,10m,1h,6h,1d,3d,7d,30d"} | given


def demo_token(environ: Mapping[str, str]) -> str:
    """The admin token that registers the demo accounts: one the services will take — the
    caller's SIAR_API_TOKEN (the command line's) when SIAR_API_TOKENS makes it an admin, else the
    first admin token there (the development token when none is given)."""
    tokens = parse_tokens(environ.get("SIAR_API_TOKENS") or f"{DEV_TOKEN}:admin")
    mine = environ.get("SIAR_API_TOKEN")
    if mine and tokens.get(mine) == "admin":
        return mine
    admin = next((t for t, role in tokens.items() if role == "admin"), None)
    if admin is None:
        raise ValueError("no admin token (token:admin): make run registers the demo accounts with one")
    return admin


def main() -> None:
    database_url = os.environ.get("SIAR_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/siar")
    amqp_url = os.environ.get("SIAR_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    try:
        token = demo_token(os.environ)
    except ValueError as exc:
        sys.exit(f"SIAR_API_TOKENS: {exc}")
    stack = Stack(database_url=database_url, amqp_url=amqp_url, log_dir=Path(".run"),
                  extra_env=settings_given(os.environ))
    print("applying migrations…", flush=True)
    stack.migrate()
    print(f"starting {', '.join(stack.services)}…", flush=True)
    try:
        stack.start()
        accounts = register_demo_accounts(stack.url("publisher"), stack.url("sandbox"), token)
        wait_for_accounts(stack.url("scheduler"), token, [a["account_id"] for a in accounts])
        survey = create_demo_survey(stack.url("feedback"), token, accounts)
    except Exception as exc:
        stack.stop()
        sys.exit(f"could not start Siar: {exc}")
    print("\nSiar is running (logs in .run/):")
    for name, service in stack.services.items():
        print(f"  {name:<10} {service.url}")
    print("\ndemo accounts on the sandbox:")
    for a in accounts:
        print(f"  {a['platform']:<9} {a['handle']:<24} {a['account_id']}")
    print("\ndemo survey (answer it in a browser; one link per channel):")
    for link in survey["links"]:
        print(f"  {link['channel']:<9} {link['url']}")
    print(
        f"  results: curl -s {stack.url('feedback')}/v1/surveys/{survey['slug']}/results "
        f"-H 'Authorization: Bearer {token}'"
    )
    mastodon = accounts[0]["account_id"]
    print(
        "\nschedule a post 10 seconds from now:\n"
        f"  curl -s -X POST {stack.url('scheduler')}/v1/posts -H 'Authorization: Bearer {token}' "
        "-H 'Content-Type: application/json' \\\n"
        f"    -d '{{\"text\": \"Halo dari perpustakaan! #PalembangBaca\", \"targets\": [\"{mastodon}\"], "
        "\"scheduled_at\": \"'$(date -u -d '+10 sec' +%Y-%m-%dT%H:%M:%SZ)'\"}'\n"
        f"then see it on the sandbox: curl -s {stack.url('sandbox')}/_sandbox/posts\n"
        "Ctrl-C stops everything.",
        flush=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        for name, service in stack.services.items():
            if not service.running:
                print(f"{name} stopped unexpectedly; see .run/{name}.log", file=sys.stderr)
                stopping = True
        time.sleep(0.5)
    stack.stop()


if __name__ == "__main__":
    main()
