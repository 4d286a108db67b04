"""``siar accounts list`` and ``siar audit``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from . import render
from .app import accounts_app, api, app, command

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
    entity: Annotated[str | None, typer.Option(help="post, series, event, campaign, account or calendar")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Who did what, when (the append-only audit log)."""
    params = {"limit": limit} | ({"entity_id": post} if post else {}) | ({"entity": entity} if entity else {})
    entries = api(ctx).get("/v1/audit", params=params)["entries"]
    if as_json:
        render.as_json(entries)
        return
    table = Table()
    for column in ("when", "who", "role", "what", "on"):
        table.add_column(column)
    for e in entries:
        table.add_row(e["at"][:19].replace("T", " "), e["actor"], e["role"] or "", e["action"],
                      f"{e['entity']} {e['entity_id'] or ''}")
    render.console.print(table)
