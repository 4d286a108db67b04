"""How the command line shows things: tables for posts, and problems that say what to fix."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from siar_runtime import zones

# Piped or captured output is not cut at 80 columns; a terminal gets its own width.
_WIDTH = None if os.environ.get("COLUMNS") or os.isatty(1) else 160
console = Console(width=_WIDTH)
errors = Console(stderr=True, width=_WIDTH)

STATUS_STYLE = {
    "draft": "dim", "in_review": "yellow", "scheduled": "cyan", "publishing": "blue", "published": "green",
    "partially_published": "magenta", "failed": "red", "cancelled": "strike dim",
}


def local_time(post: dict[str, Any], tz: str | None) -> str:
    """When the post goes out, in ``tz`` (the library's zone, --timezone), as the calendar shows
    it — not in whatever zone the post was written in (a post sent with ``Z`` showed UTC)."""
    return moment(post.get("scheduled_at") or post.get("scheduled_local") or "", tz)


def moment(value: str, tz: str | None = None) -> str:
    """An ISO 8601 time the way the command line shows times: ``2026-12-04 09:00``, in ``tz`` if
    given (the library's zone, --timezone), else in the offset it carries."""
    try:
        when = datetime.fromisoformat(value)
        if tz and when.tzinfo:
            when = when.astimezone(zones.zone(tz))
    except ValueError:  # not a time, or zones.UnknownZone
        return value
    return f"{when:%Y-%m-%d %H:%M}"


def status(value: str) -> str:
    return f"[{STATUS_STYLE.get(value, '')}]{value}[/]"


def posts_table(posts: list[dict[str, Any]], tz: str | None, title: str | None = None) -> Table:
    """When, status, platforms and the post id always show (their columns keep their width);
    the text takes what room is left, cut short with an ellipsis (``--json`` has it whole)."""
    table = Table(title=title, show_lines=False)
    table.add_column("when", no_wrap=True, min_width=16)
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("platforms", min_width=9)
    # Rich squeezes the narrow columns away before an unbreakable one: the text's width is capped
    # to what the others leave (about 90 columns with the borders).
    table.add_column("text", overflow="ellipsis", no_wrap=True, max_width=max(8, console.width - 90))
    table.add_column("post id", style="dim", no_wrap=True, min_width=36)
    for p in posts:
        text = p["text"].replace("\n", " ")
        table.add_row(local_time(p, tz), status(p["status"]), ", ".join(sorted({t["platform"] for t in p["targets"]})),
                      Text(text if len(text) <= 80 else text[:79] + "\u2026"), p["post_id"])  # not markup
    return table


def post_detail(post: dict[str, Any], tz: str | None) -> None:
    review = post.get("review") or {}
    console.print(f"[bold]{post['post_id']}[/]  {status(post['status'])}  {local_time(post, tz)}")
    console.print(Text(post["text"]))
    if review:
        line = f"review: {review.get('state')}"
        if review.get("reviewed_by"):
            line += f" by {review['reviewed_by']}"
        if review.get("comment"):
            line += f" \u2014 \u201c{review['comment']}\u201d"
        console.print(line, style="dim")
    targets = Table(show_header=True)
    for column in ("platform", "account", "status", "why / url"):
        targets.add_column(column)
    for t in post["targets"]:
        targets.add_row(t["platform"], t["account_id"], status(t["status"]), t.get("reason") or t.get("url") or "")
    console.print(targets)
    findings(post.get("findings") or [])


def findings(found: list[dict[str, Any]], *, to: Console = console) -> None:
    if not found:
        return
    table = Table(title="content checks")
    for column in ("", "check", "where", "what"):
        table.add_column(column)
    for f in found:
        where = f.get("field", "text")
        if f.get("start") is not None:
            where += f" {f['start']}\u2013{f['end']}"
        mark = "[red]block[/]" if f.get("severity") == "block" else "[yellow]warn[/]"
        table.add_row(mark, Text(str(f.get("check", ""))), Text(str(where)), Text(str(f.get("message", ""))))
    to.print(table)


def problem(status_code: int, body: dict[str, Any]) -> None:
    """Print an RFC 9457 problem: its title and detail, and the lists it carries."""
    # The service's words are shown as written, never read as Rich markup ("[a-z0-9]" in a
    # pattern, "[/x]" in a name the caller typed).
    title = body.get("title") or f"HTTP {status_code}"
    errors.print(Text.assemble((f"\u2717 {title}", "bold red"), " ", (f"({status_code})", "dim")))
    if body.get("violations"):
        table = Table(title="refused by the platforms")
        for column in ("account", "rule", "message"):
            table.add_column(column)
        for v in body["violations"]:
            table.add_row(Text(f"{v.get('platform')} {v.get('handle')}"), Text(str(v.get("rule"))),
                          Text(str(v.get("message", ""))))
        errors.print(table)
    elif body.get("findings"):
        findings(body["findings"], to=errors)
    elif body.get("errors"):
        for e in body["errors"]:
            errors.print(Text(f"  {e.get('field')}: {e.get('message')}"))
    elif isinstance(body.get("rows"), list):
        refused_rows(body["rows"], to=errors)
        errors.print(f"{body.get('refused', '?')} of {len(body['rows'])} rows refused; nothing was imported.")
    elif body.get("detail"):
        errors.print(Text(str(body["detail"])))


def refused_rows(rows: list[dict[str, Any]], *, to: Console = console) -> None:
    refused = [r for r in rows if r.get("status") == "refused"]
    if not refused:
        return
    table = Table(title="refused rows")
    table.add_column("row", justify="right")
    table.add_column("why")
    for r in refused:
        table.add_row(str(r["row"]), Text("; ".join(r.get("reasons") or [])))
    to.print(table)


def as_json(value: Any) -> None:
    console.print_json(json.dumps(value))
