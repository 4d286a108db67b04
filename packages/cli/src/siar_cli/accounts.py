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
    The scheduler's (posts, reviews, campaigns, series, imports) and the publisher's (who connected
    which account) as one log."""
    tz = config(ctx).timezone
    params = ({"entity_id": post} if post else {}) | ({"entity": entity} if entity else {}) | (
        {"by": by} if by else {}) | ({"from": bound(since, tz)} if since else {}) | (
        {"to": bound(until, tz, end=True)} if until else {})
    entries, earlier = latest_entries(api(ctx), params, limit)
    if post is None and entity in (None, "account"):  # the publisher's log holds account connections only
        try:
            theirs, their_earlier = latest_entries(api(ctx, "publisher"), params, limit)
        except (CliError, ApiError) as exc:  # the scheduler's log is still worth showing
            why = str(exc) if isinstance(exc, CliError) else f"the publisher answered {exc.status}: {exc.problem.get('detail') or exc.problem.get('title')}"
            render.errors.print(f"[dim]Account connections not shown: {escape(why)}[/]")
        else:
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
    """An account by its platform and handle where the entry says them, else the entity's id."""
    details = entry.get("details") or {}
    if entry["entity"] == "account" and details.get("handle"):
        return f"{details.get('platform', '')} {details['handle']} ({entry['entity_id']})".strip()
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
