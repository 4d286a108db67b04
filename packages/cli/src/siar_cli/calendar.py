"""``siar import|export`` and ``siar calendar …``: the plan in and out, the month, the gaps.

An import is checked in parts (a progress bar over the rows), then imported in one request, so
the scheduler still imports all of it or nothing. An Idempotency-Key made from the file's
content makes running the same import twice harmless."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from . import render
from .app import api, app, calendar_app, command, config
from .client import CliError

CHUNK = 100


def split(data: bytes, name: str = "the file") -> tuple[list[str], list[list[str]], str]:
    """The header, the records and the delimiter, read the way the scheduler reads them
    (services/scheduler ``transfer.read_rows``): a file the scheduler takes, the CLI takes too."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CliError(f"{name} is not UTF-8 text; save the spreadsheet as CSV UTF-8") from exc
    if not text.strip():
        raise CliError(f"{name} is empty")
    delimiter = max((",", ";", "\t"), key=text.splitlines()[0].count)
    # newline="": the csv module reads \r\n, \n and a lone \r (old Excel "CSV (Macintosh)") itself;
    # a StringIO that splits on \n alone hands it a field with a \r inside, which it refuses.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = []
    start = 1  # the line the next record starts on (a quoted cell may run over several lines)
    try:
        for record in reader:
            records.append(record)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise CliError(f"{name}: line {start} is not CSV ({exc}); save the spreadsheet as CSV UTF-8") from exc
    return records[0], records[1:], delimiter


def encode(header: list[str], rows: list[list[str]], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


@command(calendar_app, "import", (app, "import"))
def import_plan(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The plan as CSV")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, import nothing")] = False,
) -> None:
    """Import a month's plan from CSV: every row, or nothing (with the reason for each refused row)."""
    client = api(ctx)
    data = file.read_bytes()
    header, rows, delimiter = split(data, str(file))
    if not rows:
        raise CliError("the file has a header but no rows")
    checked: list[dict] = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=render.console, transient=False) as progress:
        task = progress.add_task("checking rows", total=len(rows))
        for start in range(0, len(rows), CHUNK):
            part = rows[start:start + CHUNK]
            report = client.post("/v1/calendar/import", params={"dry_run": True, "first_row": start + 2},
                                 content=encode(header, part, delimiter), headers={"content-type": "text/csv"})
            checked += report["rows"]
            progress.advance(task, len(part))
        refused = [r for r in checked if r["status"] == "refused"]
        if refused or dry_run:
            progress.update(task, description="checked")
        else:
            saving = progress.add_task("importing", total=1)
            key = "cli-" + hashlib.sha256(data).hexdigest()[:32]
            report = client.post("/v1/calendar/import", content=data,
                                 headers={"content-type": "text/csv", "Idempotency-Key": key})
            progress.advance(saving)
    warnings = sum(len(r.get("warnings") or []) for r in checked)
    skipped = sum(1 for r in checked if r["status"] == "skipped")
    skipped_note = f"; {skipped} rows already in the calendar were skipped" if skipped else ""
    if refused:
        render.refused_rows(checked)
        render.errors.print(f"[bold red]\u2717[/] {len(refused)} of {len(checked)} rows refused; nothing was imported.")
        raise typer.Exit(1)
    if dry_run:
        render.console.print(f"[green]\u2713[/] {len(checked) - skipped} rows can be imported"
                             + (f" ({warnings} warnings)" if warnings else "") + skipped_note)
        return
    done = report["imported"] or report["accepted"]
    again = "" if report["imported"] or not done else " (imported before; nothing new)"
    render.console.print(f"[green]\u2713[/] imported {done} posts{again}" + (f", {warnings} warnings" if warnings else "")
                         + skipped_note)
    for note in report.get("notes") or []:
        render.console.print(f"  note: {note}", style="dim")


@command(calendar_app, "export", (app, "export"))
def export_plan(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default this month and the next")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv (spreadsheets) or ics (calendar apps)")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write; default standard output")] = None,
) -> None:
    """Export the plan as CSV or iCalendar."""
    if fmt not in ("csv", "ics"):
        raise CliError("--format is csv or ics")
    params = {"timezone": config(ctx).timezone} | ({"month": month} if month else {})
    response = api(ctx).request("GET", f"/v1/calendar/export.{fmt}", params=params)
    if output is None:
        typer.echo(response.content.decode("utf-8-sig"), nl=False)
        return
    output.write_bytes(response.content)
    render.errors.print(f"[green]\u2713[/] wrote {output}")


@command(calendar_app, "month")
def month_view(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Argument(help="YYYY-MM; default this month")] = None,
) -> None:
    """The month day by day, and where it falls short of a rhythm."""
    params = {"timezone": config(ctx).timezone} | ({"month": month} if month else {})
    view = api(ctx).get("/v1/calendar/month", params=params)
    table = Table(title=f"{view['period']} ({view['timezone']})")
    for column in ("day", "time", "status", "platforms", "text"):
        table.add_column(column)
    for day in view["days"]:
        for i, p in enumerate(day["posts"]):
            table.add_row(f"{day['weekday'][:3]} {day['date'][8:]}" if i == 0 else "", p["local_time"],
                          render.status(p["status"]), ", ".join(sorted(set(p["platforms"]))), p["text"][:60])
    render.console.print(table)
    gaps_table(view["gaps"])


@command(calendar_app, "gaps")
def gaps(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option(help="First month, YYYY-MM; default this month")] = None,
    months: Annotated[int, typer.Option(min=1, max=12)] = 2,
) -> None:
    """Where this month and the next fall short of each account's posting rhythm."""
    params = {"timezone": config(ctx).timezone, "months": months} | ({"month": month} if month else {})
    found = api(ctx).get("/v1/calendar/gaps", params=params)
    if not found["periods"]:
        render.console.print("no account has a rhythm yet (PUT /v1/accounts/{id}/rhythm)")
        return
    gaps_table(found["gaps"])
    if not found["gaps"]:
        render.console.print(f"[green]\u2713[/] {', '.join(found['months'])}: every rhythm is met")


def gaps_table(gaps: list[dict]) -> None:
    if not gaps:
        return
    table = Table(title="falls short")
    for column in ("account", "period", "planned", "target", "short"):
        table.add_column(column)
    for g in gaps:
        table.add_row(f"{g['platform']} {g['handle']}", g["period"], str(g["planned"]), str(g["target"]),
                      f"[red]{g['shortfall']}[/]")
    render.console.print(table)
