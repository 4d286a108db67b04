"""``siar accounts list`` and ``siar audit``."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from . import render
from .app import accounts_app, api, app, command, config
from .client import Api, ApiError, CliError
from .posts import bound

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


@command(accounts_app, "list")
def list_accounts(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The accounts posts can go to (connected through the publisher)."""
    found = api(ctx).get("/v1/accounts")["accounts"]
    if as_json:
        render.as_json(found)
        return
    table = Table()
    for column in ("platform", "handle", "status", "account id"):
        table.add_column(column)
    for a in found:
        state = a["status"] if a["status"] == "active" else f"[red]{a['status']}[/] {a.get('status_reason') or ''}"
        table.add_row(a["platform"], a["handle"], state, f"[dim]{a['account_id']}[/]")
    render.console.print(table)


# The services besides the scheduler that keep an audit log: what it holds, and its one entity.
OTHER_LOGS = (("publisher", "account connections", "account"), ("feedback", "survey changes", "survey"))


@command(app, "audit")
def audit(
    ctx: typer.Context,
    post: Annotated[str | None, typer.Option(help="Only this post's history")] = None,
    entity: Annotated[str | None, typer.Option(help="post, series, event, campaign, account, calendar or survey")] = None,
    by: Annotated[str | None, typer.Option(help="Only what this actor did (as the log names them)")] = None,
    since: Annotated[str | None, typer.Option("--from", help="From this day or time (in --timezone)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="To the end of this day, or until this time")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many of the latest entries")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Who did what, when (the append-only audit logs): the latest entries, oldest of them first.
    The scheduler's (posts, reviews, campaigns, series, imports), the publisher's (who connected
    which account) and the feedback service's (who created, changed, opened, closed a survey) as
    one log."""
    tz = config(ctx).timezone
    params = ({"entity_id": post} if post else {}) | ({"entity": entity} if entity else {}) | (
        {"by": by} if by else {}) | ({"from": bound(since, tz)} if since else {}) | (
        {"to": bound(until, tz, end=True)} if until else {})
    entries, earlier = latest_entries(api(ctx), params, limit)
    for e in entries:
        e["service"] = "scheduler"  # each log numbers its own entries: the id alone is not unique
    for service, holds, entity_kind in OTHER_LOGS:
        if post is not None or entity not in (None, entity_kind):
            continue
        try:
            theirs, their_earlier = latest_entries(api(ctx, service), params, limit)
        except (CliError, ApiError) as exc:  # the others are still worth showing
            why = str(exc) if isinstance(exc, CliError) else (
                f"the {service} answered {exc.status}: {exc.problem.get('detail') or exc.problem.get('title')}")
            render.errors.print(f"[dim]{holds.capitalize()} not shown: {escape(why)}[/]")
            continue
        for e in theirs:
            e["service"] = service
        merged = sorted(entries + theirs, key=lambda e: datetime.fromisoformat(e["at"]))
        earlier += their_earlier + max(0, len(merged) - limit)
        entries = merged[-limit:]
    if as_json:
        render.as_json(entries)
        return
    table = Table()
    for column in (f"when ({tz})", "who", "role", "what", "on"):
        table.add_column(column)
    for e in entries:
        table.add_row(render.moment(e["at"], tz), escape(e["actor"]), e["role"] or "", escape(e["action"]),
                      escape(f"{e['entity']} {_named(e)}"))
    if earlier:
        render.console.print(f"\u2026 {earlier} earlier entries; use --limit to see more", style="dim")
    render.console.print(table)


def _named(entry: dict) -> str:
    """An account by its platform and handle, a survey by its title, where the entry says them;
    else the entity's id."""
    details = entry.get("details") or {}
    if entry["entity"] == "account" and details.get("handle"):
        return f"{details.get('platform', '')} {details['handle']} ({entry['entity_id']})".strip()
    if entry["entity"] == "survey" and details.get("title"):
        return f"{details['title']} ({entry['entity_id']})"
    return entry["entity_id"] or ""


PAGE = 1000  # the most GET /v1/audit gives in one page


def latest_entries(client: Api, params: dict[str, Any], limit: int) -> tuple[list[dict], int]:
    """The last ``limit`` entries and how many came before them. GET /v1/audit gives the log
    oldest first, a page at a time; the pages are followed to the end (an audit log at a library's
    scale is read in a few requests) and only the last ``limit`` entries kept."""
    kept: deque[dict] = deque(maxlen=limit)
    seen = 0
    cursor = None
    while True:
        page = client.get("/v1/audit", params=params | {"limit": PAGE} | ({"cursor": cursor} if cursor else {}))
        kept.extend(page["entries"])
        seen += len(page["entries"])
        cursor = page.get("next_cursor")
        if not cursor:
            return list(kept), seen - len(kept)
