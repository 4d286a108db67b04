"""``siar series …`` and ``siar events …``: recurring posts (an RFC 5545 rule in the library's
zone: opening hours every Friday, a story hour on the first Monday) and promoted events (a
countdown of posts 7, 3 and 1 days before and on the day), written once, reviewed as one, and
their posts made by the scheduler.

Both are series in the scheduler's API (``/v1/series``, ``/v1/events``) with the same life: a
draft is submitted, a reviewer approves it or sends it back, and cancelling it cancels every post
of it that has not gone out. One occurrence is skipped with ``siar posts cancel POST_ID``."""

import re
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from . import render
from .app import api, app, command, config
from .client import Api, CliError, segment
from .posts import JsonOpt, campaign_id, parse_when, resolve_accounts

series_app = typer.Typer(help="Recurring posts: every Friday's opening hours, the monthly story hour.",
                         no_args_is_help=True)
events_app = typer.Typer(help="Promoted events: a countdown of posts before the day.", no_args_is_help=True)
app.add_typer(series_app, name="series")
app.add_typer(events_app, name="events")

REVIEW_STYLE = {"draft": "dim", "in_review": "yellow", "approved": "green"}
WAITING = {"draft", "in_review", "scheduled"}  # an occurrence that has not gone out (nor been cancelled)


def when_fields(value: str, key: str, tz: str | None) -> dict[str, str]:
    """A time typed on the command line as the API takes it: with its offset, or local time in
    ``tz`` (--timezone, for a new one); a change without ``tz`` keeps the series' own zone."""
    when = parse_when(value)
    return {key: when.isoformat()} if when.tzinfo or tz is None else {key: when.isoformat(), "timezone": tz}


def day(value: str, option: str) -> str:
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d").date().isoformat()
    except ValueError as exc:
        raise CliError(f"{option} {value!r} is not a day like 2026-12-31") from exc


def media_list(urls: list[str] | None, alts: list[str] | None) -> list[dict[str, str]]:
    alts = alts or []
    if alts and not urls:
        raise CliError("--alt describes a --media: give the media again with their descriptions")
    if len(alts) > len(urls or []):
        raise CliError("more --alt than --media: each --alt describes the --media at its place")
    return [{"url": url, **({"alt_text": alts[i]} if i < len(alts) else {})} for i, url in enumerate(urls or [])]


def days_before(value: str) -> list[int]:
    """``7,3,1,0`` (0 is the day itself)."""
    try:
        days = [int(part) for part in re.split(r"[,\s]+", value.strip()) if part]
    except ValueError:
        days = []
    if not days or any(d < 0 for d in days):
        raise CliError(f"--days {value!r} is not a list of days before the event like 7,3,1,0")
    return days


def post_time(value: str) -> str:
    m = re.fullmatch(r"(\d{1,2})[:.](\d{2})", value.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise CliError(f"--post-time {value!r} is not a time of day like 09:00")
    return f"{int(m.group(1)):02d}:{m.group(2)}:00"


# --------------------------------------------------------------------------- how they are shown


def name(series: dict[str, Any]) -> str:
    """An event's title; a series' first line of text (its ``title`` is a video's title)."""
    if series["kind"] == "countdown":
        return (series.get("event") or {}).get("title") or ""
    lines = series["text"].strip().splitlines()
    return lines[0] if lines else ""


def schedule(series: dict[str, Any], tz: str) -> str:
    if series["kind"] == "countdown":
        event = series.get("event") or {}
        days = ", ".join(str(d) for d in event.get("days_before") or [])
        return f"{render.moment(series['start'])} ({series['timezone']}); posts {days} days before"
    return f"{series.get('rrule') or ''} from {render.moment(series['start'])} ({series['timezone']})"


def next_post(series: dict[str, Any], tz: str) -> str:
    waiting = sorted((o for o in series.get("occurrences") or [] if o["status"] in WAITING),
                     key=lambda o: o["scheduled_at"])
    return render.moment(waiting[0]["scheduled_at"], tz) if waiting else ""


def state(series: dict[str, Any]) -> Text:
    if series["status"] == "cancelled":
        return Text("cancelled", style="strike dim")
    review = (series.get("review") or {}).get("state", "")
    return Text(review, style=REVIEW_STYLE.get(review, ""))


def table(found: list[dict[str, Any]], tz: str, noun: str) -> Table:
    out = Table()
    out.add_column("state", no_wrap=True)
    for column in (noun, "when", f"next post ({tz})", "posts"):
        out.add_column(column, overflow="fold")
    out.add_column("id", no_wrap=True, min_width=36)
    for s in found:
        out.add_row(state(s), Text(name(s)), Text(schedule(s, tz)), next_post(s, tz),
                    str(len(s.get("occurrences") or [])), Text(s["series_id"], style="dim"))
    return out


def detail(series: dict[str, Any], tz: str) -> None:
    render.console.print(Text.assemble((name(series), "bold"), "  ", state(series), (f"  {series['series_id']}", "dim")))
    render.console.print(Text(schedule(series, tz)))
    if series["kind"] == "countdown":
        event = series.get("event") or {}
        for label, key in (("place", "place"), ("link", "link")):
            if event.get(key):
                render.console.print(Text(f"{label}: {event[key]}"))
    if series["kind"] == "recurrence" and series.get("exdates"):
        render.console.print(Text("skips " + ", ".join(series["exdates"])), style="dim")
    if series["text"].strip() != name(series):
        render.console.print(Text(series["text"]))
    review = series.get("review") or {}
    line = f"review: {review.get('state')}"
    if review.get("reviewed_by"):
        line += f" by {review['reviewed_by']}"
    if review.get("comment"):
        line += f" \u2014 \u201c{review['comment']}\u201d"
    render.console.print(Text(line), style="dim")
    if series.get("cancel_reason"):
        render.console.print(Text(f"cancelled: {series['cancel_reason']}"), style="dim")
    posts = Table(title=f"posts ({tz})")
    for column in ("when", "status", "post id"):
        posts.add_column(column)
    for o in series.get("occurrences") or []:
        mark = "  (changed on its own)" if o.get("detached") else ""
        posts.add_row(render.moment(o["scheduled_at"], tz), render.status(o["status"]) + mark,
                      Text(o["post_id"], style="dim"))
    render.console.print(posts)
    if series.get("materialised_until") and series["kind"] == "recurrence":
        render.console.print(f"posts are made up to {render.moment(series['materialised_until'], tz)}; more each day",
                             style="dim")


def done(ctx: typer.Context, series: dict[str, Any], verb: str, as_json: bool = False) -> None:
    if as_json:
        render.as_json(series)
        return
    upcoming = next_post(series, config(ctx).timezone) or "\u2014"
    render.console.print(Text.assemble(("\u2713 ", "green"), f"{verb}: ", (name(series), "bold"), "  ", state(series),
                                       f"  next post {upcoming}", (f"  {series['series_id']}", "dim")))


# --------------------------------------------------------------------------- what both share


def lifecycle(group: typer.Typer, base: str, noun: str, a_noun: str) -> None:
    """list, show, submit, approve, send-back and cancel, the same for series and events. (No
    ``from __future__ import annotations`` in this module: typer reads these commands' annotations,
    which name ``IdArg``, a local.)"""

    def path(series_id: str, rest: str = "") -> str:
        return f"{base}/{segment(series_id)}{rest}"

    IdArg = Annotated[str, typer.Argument(help=f"The {noun}'s id")]

    @command(group, "list", help=f"Every {noun} with its next post.")
    def list_(
        ctx: typer.Context,
        cancelled: Annotated[bool, typer.Option("--cancelled", help="Cancelled ones too")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        found = api(ctx).get(base, params={"include_cancelled": "true"} if cancelled else None)["series"]
        if as_json:
            render.as_json(found)
        elif not found:
            render.console.print(f"no {noun} yet", style="dim")
        else:
            render.console.print(table(found, config(ctx).timezone, noun))

    @command(group, "show", help=f"One {noun}: its text, its review and each of its posts.")
    def show(ctx: typer.Context, series_id: IdArg, as_json: JsonOpt = False) -> None:
        found = api(ctx).get(path(series_id))
        render.as_json(found) if as_json else detail(found, config(ctx).timezone)

    @command(group, "submit", help=f"Submit a draft {noun} for review (its posts follow).")
    def submit(ctx: typer.Context, series_id: IdArg) -> None:
        done(ctx, api(ctx).post(path(series_id, "/submit")), "submitted")

    @command(group, "approve", help=f"Approve {a_noun} in review and its posts (reviewers; not your own).")
    def approve(
        ctx: typer.Context,
        series_id: IdArg,
        comment: Annotated[str | None, typer.Option(help="A note for the author")] = None,
    ) -> None:
        done(ctx, api(ctx).post(path(series_id, "/approve"), json={"comment": comment} if comment else None),
             "approved")

    @command(group, "send-back", help=f"Send {a_noun} back to its author as a draft, with a comment (reviewers).")
    def send_back(
        ctx: typer.Context,
        series_id: IdArg,
        comment: Annotated[str, typer.Option(help="What the author should change")],
    ) -> None:
        done(ctx, api(ctx).post(path(series_id, "/send-back"), json={"comment": comment}), "sent back")

    @command(group, "cancel", help=f"Cancel the {noun}: every post of it that has not gone out is cancelled.")
    def cancel(
        ctx: typer.Context,
        series_id: IdArg,
        reason: Annotated[str, typer.Option(help="Why (shown on each post)")] = "cancelled by a person",
    ) -> None:
        done(ctx, api(ctx).post(path(series_id, "/cancel"), json={"reason": reason}), "cancelled")


lifecycle(series_app, "/v1/series", "series", "a series")
lifecycle(events_app, "/v1/events", "event", "an event")

def change(ctx: typer.Context, client: Api, path: str, body: dict[str, Any], *, to: list[str] | None,
           campaign: str | None, media: list[str] | None, alt: list[str] | None, options: str, as_json: bool) -> None:
    """The end of a series' or an event's change: what both take, then the PATCH."""
    if to:
        body["targets"] = resolve_accounts(client, to)
    if campaign:
        body["campaign_id"] = campaign_id(client, campaign)
    if media or alt:
        body["media"] = media_list(media, alt)
    if not body:
        raise CliError(f"nothing to change: give {options}")
    done(ctx, client.patch(path, json=body), "changed", as_json)


ToOpt = Annotated[list[str], typer.Option("--to", help="Account: id, platform:handle, handle or platform; repeat")]
MediaOpt = Annotated[list[str] | None, typer.Option("--media", help="Image or video URL; repeat")]
AltOpt = Annotated[list[str] | None, typer.Option("--alt", help="Description of each --media, in order")]


# --------------------------------------------------------------------------- series


@command(series_app, "create")
def create_series(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Every post's text (use quotes)")],
    start: Annotated[str, typer.Option("--start", help="The first post: '2026-12-04 09:00' (local); its time "
                                                       "of day is every one's")],
    rule: Annotated[str, typer.Option("--rule", help="RFC 5545 RRULE: FREQ=WEEKLY;BYDAY=FR, FREQ=MONTHLY;BYDAY=1MO")],
    to: ToOpt,
    until: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (inclusive)")] = None,
    count: Annotated[int | None, typer.Option(min=1, max=1000, help="How many posts in all")] = None,
    skip: Annotated[list[str] | None, typer.Option("--skip", help="A day to leave out, YYYY-MM-DD; repeat")] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign name or id")] = None,
    media: MediaOpt = None,
    alt: AltOpt = None,
    title: Annotated[str | None, typer.Option(help="Video title (YouTube, TikTok)")] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Keep it as a draft; submit later")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a recurring post once: the scheduler makes each of its posts."""
    client = api(ctx)
    body: dict[str, Any] = {"text": text, "rrule": rule, "targets": resolve_accounts(client, to), "draft": draft,
                            "exdates": [day(d, "--skip") for d in skip or []], "media": media_list(media, alt),
                            **when_fields(start, "start", config(ctx).timezone)}
    if until:
        body["until"] = day(until, "--until")
    if count:
        body["count"] = count
    if campaign:
        body["campaign_id"] = campaign_id(client, campaign)
    if title:
        body["title"] = title
    done(ctx, client.post("/v1/series", json=body), "created", as_json)


@command(series_app, "change")
def change_series(
    ctx: typer.Context,
    series_id: Annotated[str, typer.Argument(help="The series' id")],
    text: Annotated[str | None, typer.Option(help="A new text for every post not gone out")] = None,
    start: Annotated[str | None, typer.Option("--start", help="A new first post (and time of day)")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="A new RRULE")] = None,
    until: Annotated[str | None, typer.Option(help="A new last day, YYYY-MM-DD")] = None,
    count: Annotated[int | None, typer.Option(min=1, max=1000, help="A new number of posts")] = None,
    skip: Annotated[list[str] | None, typer.Option("--skip", help="Also leave out this day; repeat")] = None,
    unskip: Annotated[list[str] | None, typer.Option("--unskip", help="No longer leave out this day; repeat")] = None,
    to: Annotated[list[str] | None, typer.Option("--to", help="New accounts (all of them); repeat")] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign name or id")] = None,
    media: MediaOpt = None,
    alt: AltOpt = None,
    title: Annotated[str | None, typer.Option(help="A new video title (YouTube, TikTok)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a series: every post of it that has not gone out follows."""
    client = api(ctx)
    body: dict[str, Any] = {}
    if text is not None:
        body["text"] = text
    if start:
        body |= when_fields(start, "start", None)  # local time in the series' own zone
    if rule:
        body["rrule"] = rule
    if until:
        body["until"] = day(until, "--until")
    if count:
        body["count"] = count
    if skip or unskip:
        current = client.get(f"/v1/series/{segment(series_id)}").get("exdates") or []
        gone = {day(d, "--unskip") for d in unskip or []}
        wanted = sorted((set(current) | {day(d, "--skip") for d in skip or []}) - gone)
        if wanted != sorted(current):
            body["exdates"] = wanted
    if title is not None:
        body["title"] = title
    change(ctx, client, f"/v1/series/{segment(series_id)}", body, to=to, campaign=campaign, media=media, alt=alt,
           options="--text, --start, --rule, --until, --count, --skip, --to, --campaign, --media or --title",
           as_json=as_json)


# --------------------------------------------------------------------------- events


@command(events_app, "create")
def create_event(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="The event's name (use quotes)")],
    at: Annotated[str, typer.Option("--at", help="When it starts: '2026-12-12 10:00' (local) or with an offset")],
    to: ToOpt,
    place: Annotated[str | None, typer.Option(help="Where it is")] = None,
    link: Annotated[str | None, typer.Option(help="A link for details or registration")] = None,
    days: Annotated[str | None, typer.Option("--days", help="Post this many days before; 0 is the day itself "
                                                            "(default 7,3,1,0)")] = None,
    post_time_: Annotated[str | None, typer.Option("--post-time", help="Local time of day of the posts "
                                                                       "(default 09:00)")] = None,
    template: Annotated[str | None, typer.Option(help="Every post's text: {title} {days} {countdown} {date} "
                                                      "{time} {place} {link} (default: one in --language)")] = None,
    language: Annotated[str | None, typer.Option(help="id or en: of the default text and the dates")] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign name or id")] = None,
    media: MediaOpt = None,
    alt: AltOpt = None,
    video_title: Annotated[str | None, typer.Option("--video-title", help="Video title (YouTube, TikTok)")] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Keep it as a draft; submit later")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Promote an event: a countdown of posts before the day."""
    client = api(ctx)
    body: dict[str, Any] = {"title": title, "targets": resolve_accounts(client, to), "draft": draft,
                            "media": media_list(media, alt), **when_fields(at, "starts_at", config(ctx).timezone)}
    for key, value in (("place", place), ("link", link), ("template", template), ("language", language),
                       ("video_title", video_title)):
        if value:
            body[key] = value
    if days is not None:
        body["days_before"] = days_before(days)
    if post_time_:
        body["post_time"] = post_time(post_time_)
    if campaign:
        body["campaign_id"] = campaign_id(client, campaign)
    done(ctx, client.post("/v1/events", json=body), "created", as_json)


@command(events_app, "change")
def change_event(
    ctx: typer.Context,
    series_id: Annotated[str, typer.Argument(help="The event's id")],
    title: Annotated[str | None, typer.Option(help="A new name")] = None,
    at: Annotated[str | None, typer.Option("--at", help="A new start: the posts not gone out move with it")] = None,
    place: Annotated[str | None, typer.Option(help="A new place")] = None,
    link: Annotated[str | None, typer.Option(help="A new link")] = None,
    days: Annotated[str | None, typer.Option("--days", help="New days before, like 7,3,1,0")] = None,
    post_time_: Annotated[str | None, typer.Option("--post-time", help="A new time of day of the posts")] = None,
    template: Annotated[str | None, typer.Option(help="A new text for every post")] = None,
    to: Annotated[list[str] | None, typer.Option("--to", help="New accounts (all of them); repeat")] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign name or id")] = None,
    language: Annotated[str | None, typer.Option(help="id or en: of the default text and the dates")] = None,
    video_title: Annotated[str | None, typer.Option("--video-title", help="A new video title")] = None,
    media: MediaOpt = None,
    alt: AltOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move or change an event: its posts that have not gone out follow."""
    client = api(ctx)
    body: dict[str, Any] = {}
    for key, value in (("title", title), ("place", place), ("link", link), ("template", template),
                       ("language", language), ("video_title", video_title)):
        if value is not None:
            body[key] = value
    if at:
        body |= when_fields(at, "starts_at", None)  # local time in the event's own zone
    if days is not None:
        body["days_before"] = days_before(days)
    if post_time_:
        body["post_time"] = post_time(post_time_)
    change(ctx, client, f"/v1/events/{segment(series_id)}", body, to=to, campaign=campaign, media=media, alt=alt,
           options="--title, --at, --place, --link, --days, --post-time, --template, --language, --video-title, "
                   "--to, --campaign or --media", as_json=as_json)
