"""``siar surveys …``: the patron surveys of the feedback service — define one from a JSON file,
open and close it, read its results and its free-text answers (``SIAR_FEEDBACK_URL``)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from . import render
from .app import api, command, config, surveys_app
from .client import CliError, segment

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
SurveyArg = Annotated[str, typer.Argument(help="The survey's id or slug")]
BAR = "\u2588"
STATUS_STYLE = {"draft": "dim", "scheduled": "cyan", "open": "green", "closed": "strike dim"}


def _path(survey: str, rest: str = "") -> str:
    """The API path of a survey named by id or slug (whatever was typed stays one path segment)."""
    return f"/v1/surveys/{segment(survey)}{rest}"


def _title(survey: dict[str, Any]) -> str:
    return (survey.get("title") or {}).get("id") or survey.get("slug") or ""


def _when(value: str | None, tz: str) -> str:
    return render.moment(value, tz) if value else ""


@command(surveys_app, "list")
def list_surveys(
    ctx: typer.Context,
    status: Annotated[Literal["draft", "scheduled", "open", "closed"] | None,
                      typer.Option(help="Only surveys in this state")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The surveys, newest first, with how many patrons answered."""
    found = api(ctx, "feedback").get("/v1/surveys", params={"limit": limit} | ({"status": status} if status else {}))
    if as_json:
        render.as_json(found["surveys"])
        return
    if not found["surveys"]:
        render.console.print("No survey yet: define one with siar surveys create FILE.json", style="dim")
        return
    tz = config(ctx).timezone
    table = Table()
    for column in ("status", "title", "slug", "answers", f"opens ({tz})", f"closes ({tz})", "survey id"):
        table.add_column(column, overflow="fold")
    for s in found["surveys"]:
        table.add_row(Text(s["status"], style=STATUS_STYLE.get(s["status"], "")), Text(_title(s)), escape(s["slug"]),
                      str(s.get("responses", 0)), _when(s.get("opened_at") or s.get("opens_at"), tz),
                      _when(s.get("closed_at") or s.get("closes_at"), tz), Text(s["survey_id"], style="dim"))
    render.console.print(table)


def _show(ctx: typer.Context, survey: dict[str, Any]) -> None:
    tz = config(ctx).timezone
    render.console.print(Text.assemble((_title(survey), "bold"), "  ",
                                       (survey["status"], STATUS_STYLE.get(survey["status"], "")),
                                       (f"  {survey['slug']}  {survey['survey_id']}", "dim")))
    dates = [f"{name} {_when(survey.get(key), tz)}" for name, key in (("opens", "opens_at"), ("opened", "opened_at"),
                                                                        ("closes", "closes_at"), ("closed", "closed_at"))
             if survey.get(key)]
    render.console.print(f"{', '.join(dates)} ({tz}); " if dates else "", f"{survey.get('responses', 0)} answers",
                         style="dim", sep="")
    questions = Table(title="Questions")
    for column in ("key", "kind", "question", "required"):
        questions.add_column(column, overflow="fold")
    for q in survey["questions"]:
        questions.add_row(escape(q["key"]), q["kind"], Text((q.get("text") or {}).get("id", "")),
                          "yes" if q.get("required") else "")
    render.console.print(questions)
    if survey.get("links"):
        links = Table(title="Links (one per channel, to count where answers come from)")
        for column in ("channel", "link"):
            links.add_column(column, overflow="fold")
        for link in survey["links"]:
            links.add_row(escape(str(link.get("channel") or "")), escape(str(link.get("url") or "")))
        render.console.print(links)


@command(surveys_app, "show")
def show(ctx: typer.Context, survey: SurveyArg, as_json: JsonOpt = False) -> None:
    """One survey: its dates, questions and links per channel."""
    found = api(ctx, "feedback").get(_path(survey))
    if as_json:
        render.as_json(found)
    else:
        _show(ctx, found)


@command(surveys_app, "create")
def create(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The survey as JSON, the body of POST /v1/surveys (title, "
                                                "questions, channels, dates: the feedback service's /docs); - reads "
                                                "standard input", allow_dash=True)],
    as_json: JsonOpt = False,
) -> None:
    """Define a survey from a JSON file, as a draft (open it with siar surveys open)."""
    name = "standard input" if str(file) == "-" else str(file)
    try:
        raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CliError(f"{name} is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8 and try again") from exc

    def no_constant(word: str) -> None:
        raise ValueError(f"{word} is not a JSON number")

    try:
        body = json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise CliError(f"{name} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except ValueError as exc:
        raise CliError(f"{name} is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise CliError(f"{name} holds a JSON {type(body).__name__}; a survey is an object with a title and questions")
    created = api(ctx, "feedback").post("/v1/surveys", json=body)
    if as_json:
        render.as_json(created)
        return
    render.console.print(f"[green]\u2713[/] survey {escape(created['slug'])} defined as a draft "
                         f"({created['survey_id']}); open it with: siar surveys open {escape(created['slug'])}")


@command(surveys_app, "open")
def open_(ctx: typer.Context, survey: SurveyArg, as_json: JsonOpt = False) -> None:
    """Open a survey now, or at its opening date (it waits, scheduled); its announcement goes out."""
    opened = api(ctx, "feedback").post(_path(survey, "/open"))
    if as_json:
        render.as_json(opened)
        return
    tz = config(ctx).timezone
    if opened["status"] == "scheduled":
        render.console.print(f"[cyan]\u2713[/] {escape(opened['slug'])} opens at {_when(opened['opens_at'], tz)} ({tz})")
    else:
        render.console.print(f"[green]\u2713[/] {escape(opened['slug'])} is open")
    public = next((link for link in opened.get("links") or [] if link.get("channel") == "direct"), None)
    if public:
        render.console.print(f"  {escape(str(public.get('url')))}", style="dim")


@command(surveys_app, "close")
def close(ctx: typer.Context, survey: SurveyArg, as_json: JsonOpt = False) -> None:
    """Close a survey: no more answers; its headline results go out (survey.closed)."""
    closed = api(ctx, "feedback").post(_path(survey, "/close"))
    if as_json:
        render.as_json(closed)
        return
    render.console.print(f"[green]\u2713[/] {escape(closed['slug'])} is closed after {closed.get('responses', 0)} answers")


def _score(value: float | None, suffix: str = "") -> str:
    return "" if value is None else f"{value:.1f}{suffix}"


@command(surveys_app, "results")
def results(ctx: typer.Context, survey: SurveyArg, as_json: JsonOpt = False) -> None:
    """Answers per question and channel: counts, average rating, CSAT and NPS (every role)."""
    found = api(ctx, "feedback").get(_path(survey, "/results"))
    if as_json:
        render.as_json(found)
        return
    channels = ", ".join(f"{escape(k)} {v}" for k, v in sorted(found["by_channel"].items(), key=lambda kv: -kv[1]))
    render.console.print(Text.assemble((found["slug"], "bold"), f"  {found['status']}  {found['responses']} answers"))
    if channels:
        render.console.print(f"by channel: {channels}", style="dim")
    headline = [f"{name} {value}" for name, value in (
        ("average rating", _score(found["average_rating"], " / 5")), ("CSAT", _score(found["csat"], " %")),
        ("NPS", _score(found["nps"]))) if value]
    if headline:
        render.console.print("  ".join(headline))
    table = Table()
    for column in ("question", "answered", "skipped", "answers", "score"):
        table.add_column(column, overflow="fold")
    for q in found["questions"]:
        counts = q.get("counts") or {}
        total = sum(counts.values()) or 1
        spread = "\n".join(f"{escape(k):>10} {BAR * max(1, round(12 * v / total)) if v else ''} {v}"
                           for k, v in counts.items()) if q["kind"] != "text" else f"{q['answered']} written"
        score = {"rating": f"avg {_score(q.get('average'))}, CSAT {_score(q.get('csat'), ' %')}",
                 "nps": f"NPS {_score(q.get('nps'))}"}.get(q["kind"], "")
        table.add_row(Text(f"{(q.get('text') or {}).get('id', q['key'])}\n{q['key']} ({q['kind']})"),
                      str(q["answered"]), str(q["skipped"]), spread, score)
    render.console.print(table)
    render.console.print("Free-text answers (admins only): siar surveys answers " + escape(found["slug"]), style="dim")


@command(surveys_app, "answers")
def answers(
    ctx: typer.Context,
    survey: SurveyArg,
    question: Annotated[str | None, typer.Option(help="Only this question's answers")] = None,
    lang: Annotated[Literal["id", "en"], typer.Option(help="Language of the question texts")] = "id",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the CSV here instead")] = None,
) -> None:
    """Patrons' free-text answers as CSV (admins only: they may hold personal data)."""
    params = {"lang": lang} | ({"question": question} if question else {})
    response = api(ctx, "feedback").request("GET", _path(survey, "/answers.csv"), params=params)
    if output is None:
        sys.stdout.buffer.write(response.content)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(response.content)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from exc
    rows = max(0, sum(1 for _ in csv.reader(io.StringIO(response.content.decode("utf-8-sig", "replace")))) - 1)
    render.console.print(f"[green]\u2713[/] {rows} answer{'' if rows == 1 else 's'} written to {escape(str(output))}")
