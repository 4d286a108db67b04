"""``siar reports …``: the metrics service's reports in a terminal — top posts, performance per
campaign / hashtag / platform / account, audience growth, the best hours to post, and one post's
readings. Each also gives the service's CSV (``--csv``, for a spreadsheet) or JSON (``--json``).

The numbers are the service's own (GET /v1/reports/…); this module only shows them. Rates are
fractions in the API and percentages here."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from . import render
from .app import api, command, config, posts_app, reports_app
from .client import CliError, segment
from .posts import bound, month_bounds

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print the report as CSV (for a spreadsheet: siar … --csv > f.csv)")]
FromOpt = Annotated[str | None, typer.Option("--from", help="From this day or time (in --timezone); default 30 days ago")]
ToOpt = Annotated[str | None, typer.Option("--to", help="To the end of this day, or until this time; default now")]
MonthOpt = Annotated[str | None, typer.Option(help="YYYY-MM: that month (instead of --from/--to)")]
PlatformOpt = Annotated[str | None, typer.Option(help="Only this platform")]
StageOpt = Annotated[str | None, typer.Option(help="Each post's reading at this step (1h, 6h, 1d, 3d, 7d, 30d) "
                                              "instead of its latest: compares posts at the same age")]

Order = Literal["engagement_rate", "interactions", "views", "reach", "likes", "comments", "shares", "saves", "clicks"]
GroupBy = Literal["campaign", "hashtag", "platform", "account"]
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SHADES = ("grey23", "dark_green", "green4", "green3", "green1")  # low … high, relative to the best hour
VALUES = ("views", "reach", "likes", "comments", "shares", "saves")
SPARKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"


def period(ctx: typer.Context, since: str | None, until: str | None, month: str | None) -> dict[str, str]:
    tz = config(ctx).timezone
    if month:
        if since or until:
            raise CliError("give --month or --from/--to, not both")
        start, end = month_bounds(month, tz)
        return {"from": start, "to": end}
    return ({"from": bound(since, tz)} if since else {}) | ({"to": bound(until, tz, end=True)} if until else {})


def fetch(ctx: typer.Context, path: str, params: dict[str, Any], as_csv: bool, as_json: bool) -> dict | None:
    """The report as JSON, or None once its CSV or JSON is printed."""
    if as_csv and as_json:
        raise CliError("give --csv or --json, not both")
    client = api(ctx, "metrics")
    if as_csv:
        response = client.request("GET", path, params=params | {"format": "csv"})
        typer.echo(response.content, nl=False)  # as the service wrote it: the BOM tells Excel it is UTF-8
        return None
    report = client.get(path, params=params)
    if as_json:
        render.as_json(report)
        return None
    return report


def percent(rate: float | None) -> str:
    if rate is None:
        return "\u2013"
    return f"{rate * 100:.2f} %" if abs(rate) < 0.01 else f"{rate * 100:.1f} %"


def count(value: float | None) -> str:
    if value is None:
        return "\u2013"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def span(ctx: typer.Context, report: dict) -> str:
    tz = config(ctx).timezone
    return f"{render.moment(report['period']['start'], tz)} \u2013 {render.moment(report['period']['end'], tz)} ({tz})"


def empty(report: dict, key: str, what: str, when: str = "an hour after a post is published") -> bool:
    if report[key]:
        return False
    render.console.print(f"No {what} in this period. Readings arrive {when} "
                         "(siar reports collections shows what is still to be read).", style="dim")
    return True


def who(row: dict) -> str:
    return f"{row['platform']} {escape(row.get('handle') or row['account_id'])}"


@command(reports_app, "top")
def top(
    ctx: typer.Context, since: FromOpt = None, until: ToOpt = None, month: MonthOpt = None,
    platform: PlatformOpt = None, stage: StageOpt = None,
    order_by: Annotated[Order, typer.Option("--by", help="What to rank by")] = "engagement_rate",
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many posts")] = 10,
    as_csv: CsvOpt = False, as_json: JsonOpt = False,
) -> None:
    """The posts with the most engagement, published in a period (each platform's post apart)."""
    params = period(ctx, since, until, month) | {"order_by": order_by, "limit": limit} | (
        {"platform": platform} if platform else {}) | ({"stage": stage} if stage else {})
    report = fetch(ctx, "/v1/reports/top-posts", params, as_csv, as_json)
    if report is None or empty(report, "posts", "post with readings"):
        return
    tz = config(ctx).timezone
    table = Table(title=f"Top posts by {order_by.replace('_', ' ')}, {span(ctx, report)}")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("published", no_wrap=True, min_width=16)
    table.add_column("account", no_wrap=True, max_width=28, overflow="ellipsis")
    # The figures keep their width; the text takes what room is left (about 96 columns go to the rest).
    table.add_column("text", overflow="ellipsis", no_wrap=True, max_width=max(8, render.console.width - 96))
    table.add_column("engaged", justify="right", no_wrap=True, min_width=7)
    ranked_by = order_by if order_by not in ("engagement_rate", "interactions") else None  # shown beside it
    if ranked_by:
        table.add_column(ranked_by, justify="right", no_wrap=True)
    table.add_column("rate", justify="right", no_wrap=True, min_width=7)
    table.add_column("of", style="dim", no_wrap=True, min_width=9)
    table.add_column("read", style="dim", no_wrap=True)
    for p in report["posts"]:
        text = (p.get("text") or "(text not known yet)").replace("\n", " ")
        table.add_row(str(p["rank"]), render.moment(p["published_at"], tz), who(p), Text(text),
                      count(p["interactions"]), *([count(p[ranked_by])] if ranked_by else []),
                      percent(p["engagement_rate"]), p["engagement_basis"] or "", p["stage"])
    render.console.print(table)
    render.console.print("engaged: likes + comments + shares + saves; rate: engaged over reach, else views, else "
                         "followers (of); read: the reading's step after publication.", style="dim")


@command(reports_app, "performance")
def performance(
    ctx: typer.Context,
    group_by: Annotated[GroupBy, typer.Option("--by", help="What to group the posts by")] = "campaign",
    since: FromOpt = None, until: ToOpt = None, month: MonthOpt = None, platform: PlatformOpt = None,
    stage: StageOpt = None, as_csv: CsvOpt = False, as_json: JsonOpt = False,
) -> None:
    """Engagement per campaign, hashtag, platform or account, for posts published in a period."""
    params = period(ctx, since, until, month) | {"group_by": group_by} | (
        {"platform": platform} if platform else {}) | ({"stage": stage} if stage else {})
    report = fetch(ctx, "/v1/reports/performance", params, as_csv, as_json)
    if report is None or empty(report, "groups", "post with readings"):
        return
    table = Table(title=f"Performance per {group_by}, {span(ctx, report)}")
    table.add_column(group_by, overflow="ellipsis", max_width=40)
    for column in ("posts", "platform posts", "views", "reach", "engaged", "rate"):
        table.add_column(column, justify="right")
    table.add_column("rate of", style="dim")
    for g in report["groups"]:
        name = escape(g["key"]) if g["key"] is not None else ("(no campaign)" if group_by == "campaign" else "\u2013")
        if g.get("label") and g["label"] != g["key"]:
            label = escape(g["label"])
            name = f"{label} [dim]{name}[/]" if group_by == "account" else f"{name} [dim]{label}[/]"
        bases = ", ".join(f"{n} {basis}" for basis, n in g["denominators"].items() if n and basis != "none")
        if g["denominators"].get("none"):
            bases += (", " if bases else "") + f"{g['denominators']['none']} without"
        table.add_row(name, str(g["posts"]), str(g["targets"]), count(g["views"]), count(g["reach"]),
                      count(g["interactions"]), percent(g["engagement_rate"]), bases)
    render.console.print(table)
    render.console.print("engaged: likes + comments + shares + saves; rate: the group's engaged over its reach, "
                         "views or followers (rate of), each post's latest reading.", style="dim")


def sparkline(values: list[float], width: int) -> str:
    """One character a day; a longer period is shown in ``width`` steps, each the last day of its
    share of the period (the latest day always shows)."""
    if len(values) > width:
        values = [values[min(len(values) - 1, round((i + 1) * len(values) / width) - 1)] for i in range(width)]
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[3] * len(values)
    return "".join(SPARKS[round((v - low) / (high - low) * (len(SPARKS) - 1))] for v in values)


@command(reports_app, "audience")
def audience(
    ctx: typer.Context, since: FromOpt = None, until: ToOpt = None, month: MonthOpt = None,
    platform: PlatformOpt = None,
    account: Annotated[str | None, typer.Option(help="Only this account (its id)")] = None,
    as_csv: CsvOpt = False, as_json: JsonOpt = False,
) -> None:
    """Followers per account over a period: first and last day, the change, and the trend."""
    params = period(ctx, since, until, month) | ({"platform": platform} if platform else {}) | (
        {"account_id": account} if account else {})
    report = fetch(ctx, "/v1/reports/audience", params, as_csv, as_json)
    if report is None or empty(report, "accounts", "audience reading", "once a day for each account"):
        return
    table = Table(title=f"Audience, {span(ctx, report)}")
    table.add_column("account", no_wrap=True)
    for column in ("first day", "last day", "change", ""):
        table.add_column(column, justify="right")
    room = max(8, render.console.width - 70)
    table.add_column(f"trend ({report['timezone']})", no_wrap=True, max_width=room)
    for a in report["accounts"]:
        series = a["series"]
        change = a["change"] or 0
        style = "green" if change > 0 else "red" if change < 0 else "dim"
        table.add_row(
            who(a),
            f"{count(a['start_followers'])} [dim]{series[0]['day']}[/]", f"{count(a['end_followers'])} "
            f"[dim]{series[-1]['day']}[/]", Text(f"{change:+,.0f}", style=style),
            "" if a["change_percent"] is None else Text(f"{a['change_percent']:+.1f} %", style=style),
            sparkline([p["followers"] for p in series], room),
        )
    render.console.print(table)


@command(reports_app, "best-hours")
def best_hours(
    ctx: typer.Context, since: FromOpt = None, until: ToOpt = None, month: MonthOpt = None,
    platform: PlatformOpt = None, stage: StageOpt = None,
    min_posts: Annotated[int, typer.Option(min=1, help="Hours with fewer posts are not ranked")] = 1,
    as_csv: CsvOpt = False, as_json: JsonOpt = False,
) -> None:
    """When posts did best: a week of hours shaded by engagement rate, and the best hours."""
    params = period(ctx, since, until, month) | {"min_posts": min_posts} | (
        {"platform": platform} if platform else {}) | ({"stage": stage} if stage else {})
    report = fetch(ctx, "/v1/reports/best-hours", params, as_csv, as_json)
    if report is None or empty(report, "cells", "post with readings"):
        return
    title = f"Engagement by hour published, {span(ctx, report)}"
    if report["timezone"] != config(ctx).timezone:  # the service's zone makes the hours
        title += f"; hours in {report['timezone']}"
    render.console.print(heat_map(report["grid"], title=title))
    if not report["best"]:
        render.console.print(f"No hour has {min_posts} posts or more with a rate yet.", style="dim")
        return
    best = Table(title="best hours")
    best.add_column("when")
    for column in ("rate", "posts", "engaged per platform post"):
        best.add_column(column, justify="right")
    for c in report["best"]:
        best.add_row(f"{DAYS[c['day_of_week'] - 1]} {c['hour']:02d}:00\u2013{(c['hour'] + 1) % 24:02d}:00",
                     percent(c["engagement_rate"]), str(c["posts"]), count(c["mean_interactions"]))
    render.console.print(best)
    if max(c["posts"] for c in report["best"]) < 5:
        render.console.print("Few posts per hour so far: take these as hints (--min-posts ranks only hours with more).",
                             style="dim")


def heat_map(grid: list[list[float | None]], title: str) -> Table:
    """7 rows (Monday first) × 24 hours; each hour with posts is a block shaded by its rate
    against the best hour's, an hour without posts a dot."""
    top_rate = max((v for row in grid for v in row if v is not None), default=None)
    table = Table(title=title, show_lines=False, box=None, pad_edge=False, padding=(0, 0))
    table.add_column("", no_wrap=True, min_width=4)
    for hour in range(24):
        table.add_column(f"{hour:02d}" if hour % 3 == 0 else "", no_wrap=True, min_width=3, justify="center")
    for day, row in zip(DAYS, grid, strict=True):
        cells = []
        for value in row:
            if value is None:
                cells.append(Text("\u00b7", style="dim"))
            else:
                share = max(0.0, value / top_rate) if top_rate else 0.0
                cells.append(Text("\u2588\u2588", style=SHADES[min(len(SHADES) - 1, int(share * len(SHADES)))]))
        table.add_row(day, *cells)
    table.caption = "\u00b7 no posts   " + " ".join(
        f"[{shade}]\u2588\u2588[/] {'low' if i == 0 else 'best' if i == len(SHADES) - 1 else ''}".rstrip()
        for i, shade in enumerate(SHADES)) + (f"   (best: {percent(top_rate)})" if top_rate is not None else "")
    return table


@command(reports_app, "post", (posts_app, "engagement"))
def post_engagement(
    ctx: typer.Context, post_id: Annotated[str, typer.Argument(help="The post's id")], as_json: JsonOpt = False,
) -> None:
    """Every reading of one post on each platform, and why one is missing."""
    report = api(ctx, "metrics").get(f"/v1/posts/{segment(post_id)}/engagement")
    if as_json:
        render.as_json(report)
        return
    tz = config(ctx).timezone
    render.console.print(Text(post_id, style="bold"))
    if report.get("text"):
        render.console.print(Text(report["text"]))
    for t in report["targets"]:
        table = Table(title=f"{who(t)} \u2014 published {render.moment(t['published_at'], tz)}"
                            + (f"\n{escape(t['url'])}" if t.get("url") else ""))
        table.add_column("step")
        table.add_column(f"read ({tz})", no_wrap=True)
        for column in (*VALUES, "rate"):
            table.add_column(column, justify="right")
        table.add_column("note", overflow="fold")
        for r in t["readings"]:
            if r["state"] == "collected":
                table.add_row(r["stage"], render.moment(r["collected_at"], tz), *(count(r[name]) for name in VALUES),
                              percent(r["engagement_rate"]), f"of {r['engagement_basis']}" if r["engagement_basis"]
                              else "")
                continue
            when = render.moment(r["planned_at"], tz)
            note = {"planned": f"to be read at {when}", "requested": "asked; waiting for the platform's answer"}.get(
                r["state"], f"not read: {r.get('reason') or r.get('error_class') or 'failed'}")
            table.add_row(escape(r["stage"]), Text(r["state"], style="red" if r["state"] == "failed" else "dim"),
                          *[""] * (len(VALUES) + 1), Text(note, style="red" if r["state"] == "failed" else "dim"))
        render.console.print(table)


@command(reports_app, "collections")
def collections(
    ctx: typer.Context,
    state: Annotated[Literal["planned", "requested", "failed"] | None, typer.Option(help="Only these")] = None,
    kind: Annotated[Literal["post", "account"] | None, typer.Option(help="post (engagement) or account "
                                                                     "(followers)")] = None,
    platform: PlatformOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, most recently changed first")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Readings still to take and those that failed, with the reason: why a number is missing."""
    params = {"limit": limit} | ({"state": state} if state else {}) | ({"kind": kind} if kind else {}) | (
        {"platform": platform} if platform else {})
    found = api(ctx, "metrics").get("/v1/collections", params=params)["collections"]
    if as_json:
        render.as_json(found)
        return
    if not found:
        render.console.print("Nothing to read and nothing failed.", style="dim")
        return
    tz = config(ctx).timezone
    table = Table()
    for column in ("state", "what", "account", f"next ({tz})", "tries", "why"):
        table.add_column(column, overflow="fold")
    for c in found:
        what = f"post {c['stage']}" if c["kind"] == "post" else "followers"
        table.add_row(Text(c["state"], style="red" if c["state"] == "failed" else ""), escape(what), who(c),
                      "" if c["state"] == "failed" else render.moment(c["due_at"], tz),
                      str(c["attempts"]), Text(c.get("reason") or ""))
    render.console.print(table)
