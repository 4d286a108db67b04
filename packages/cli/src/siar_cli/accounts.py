"""``siar accounts list`` and ``siar audit``."""

from __future__ import annotations

from collections import deque
from typing import Annotated, Any

import typer
from rich.table import Table

from . import render
from .app import accounts_app, api, app, command, config
from .client import Api
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
    """Who did what, when (the append-only audit log): the latest entries, oldest of them first."""
    tz = config(ctx).timezone
    params = ({"entity_id": post} if post else {}) | ({"entity": entity} if entity else {}) | (
        {"by": by} if by else {}) | ({"from": bound(since, tz)} if since else {}) | (
        {"to": bound(until, tz, end=True)} if until else {})
    entries, earlier = latest_entries(api(ctx), params, limit)
    if as_json:
        render.as_json(entries)
        return
    table = Table()
    for column in (f"when ({tz})", "who", "role", "what", "on"):
        table.add_column(column)
    for e in entries:
        table.add_row(render.moment(e["at"], tz), e["actor"], e["role"] or "", e["action"],
                      f"{e['entity']} {e['entity_id'] or ''}")
    if earlier:
        render.console.print(f"\u2026 {earlier} earlier entries; use --limit to see more", style="dim")
    render.console.print(table)


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
