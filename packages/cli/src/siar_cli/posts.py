"""``siar create|list|approve`` and ``siar posts …``, ``siar campaigns …``."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from siar_runtime import zones

from . import render
from .app import api, app, campaigns_app, command, config, posts_app
from .client import Api, CliError


def parse_when(value: str) -> datetime:
    """``2026-12-04 09:00``, ``2026-12-04T09.00``, or ISO 8601 with an offset."""
    text = value.strip().replace("T", " ")
    text = re.sub(r"(\d{1,2})\.(\d{2})(?!\d)", r"\1:\2", text)
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"{value!r} is not a time like '2026-12-04 09:00' (local) or '2026-12-04T09:00+07:00'") from exc


def bound(value: str, tz: str, *, end: bool = False) -> str:
    """A --from or --to as the API takes it: a day (its midnight in ``tz``; as an ``end``, to the
    end of that day) or a time (in ``tz`` unless it carries an offset)."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise CliError(f"{value!r} is not a day like 2026-12-04") from exc
        return datetime.combine(day + timedelta(days=int(end)), time(0), tzinfo=zone(tz)).isoformat()
    when = parse_when(text)
    return (when if when.tzinfo else when.replace(tzinfo=zone(tz))).isoformat()


def zone(name: str) -> ZoneInfo:
    try:
        return zones.zone(name)
    except zones.UnknownZone as exc:
        raise CliError(str(exc)) from exc


def month_bounds(month: str, tz: str) -> tuple[str, str]:
    m = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise CliError(f"month {month!r} is not YYYY-MM")
    year, mon = int(m.group(1)), int(m.group(2))
    first = datetime.combine(date(year, mon, 1), time(0), tzinfo=zone(tz))
    last = datetime.combine(date(year + (mon == 12), mon % 12 + 1, 1), time(0), tzinfo=zone(tz))
    return first.isoformat(), last.isoformat()


def resolve_accounts(client: Api, refs: list[str]) -> list[str]:
    """Account ids for ids, ``platform:handle``, handles, or a platform with one account."""
    known = client.get("/v1/accounts")["accounts"]
    ids = []
    for ref in refs:
        ref = ref.strip()
        hits = [a for a in known if a["account_id"] == ref]
        if not hits:
            platform, colon, handle = ref.partition(":")
            norm = (handle if colon else ref).lstrip("@").lower()
            hits = [a for a in known if a["handle"].lstrip("@").lower() == norm and (not colon or a["platform"] == platform)]
            if not hits and not colon:
                hits = [a for a in known if a["platform"] == ref.lower()]
        if not hits:
            raise CliError(f"{ref!r} is not a connected account; see `siar accounts list`")
        if len(hits) > 1:
            raise CliError(f"{ref!r} names {len(hits)} accounts: "
                           + ", ".join(f"{a['platform']}:{a['handle']}" for a in hits))
        ids.append(hits[0]["account_id"])
    return ids


def campaign_id(client: Api, ref: str | None) -> str | None:
    if not ref:
        return None
    for c in client.get("/v1/campaigns")["campaigns"]:
        if ref in (c["campaign_id"], c["name"]) or ref.casefold() == c["name"].casefold():
            return c["campaign_id"]
    raise CliError(f"no campaign {ref!r}; see `siar campaigns list`")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
MOST = 500  # the most posts `siar list` shows


@command(posts_app, "create", (app, "create"))
def create(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The post's text (use quotes)")],
    at: Annotated[str, typer.Option("--at", help="When: '2026-12-04 09:00' (local) or with an offset")],
    to: Annotated[list[str], typer.Option("--to", help="Account: id, platform:handle, handle or platform; repeat")],
    campaign: Annotated[str | None, typer.Option(help="Campaign name or id")] = None,
    media: Annotated[list[str] | None, typer.Option("--media", help="Image or video URL; repeat")] = None,
    alt: Annotated[list[str] | None, typer.Option("--alt", help="Description of each --media, in order")] = None,
    title: Annotated[str | None, typer.Option(help="Video title (YouTube, TikTok)")] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Keep it as a draft; submit later")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a post for one or more accounts."""
    client = api(ctx)
    when = parse_when(at)
    body: dict[str, Any] = {"text": text, "targets": resolve_accounts(client, to), "draft": draft}
    if when.tzinfo is None:
        body |= {"scheduled_at": when.isoformat(), "timezone": config(ctx).timezone}
    else:
        body["scheduled_at"] = when.isoformat()
    if campaign:
        body["campaign_id"] = campaign_id(client, campaign)
    if title:
        body["title"] = title
    alts = alt or []
    body["media"] = [{"url": url, **({"alt_text": alts[i]} if i < len(alts) else {})} for i, url in enumerate(media or [])]
    post = client.post("/v1/posts", json=body)
    if as_json:
        render.as_json(post)
        return
    render.console.print(f"[green]\u2713[/] {post['status']}: {render.local_time(post, config(ctx).timezone)}  [dim]{post['post_id']}[/]")
    render.findings(post.get("findings") or [])


@command(posts_app, "list", (app, "list"))
def list_posts(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option(help="YYYY-MM (in --timezone)")] = None,
    since: Annotated[str | None, typer.Option("--from", help="From this time (default: now)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Until this time, or to the end of this day (2026-12-31)")] = None,
    review: Annotated[str | None, typer.Option(help="Only posts in this review state: draft, in_review, approved")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign's posts (name or id)")] = None,
    status: Annotated[str | None, typer.Option(help="Only posts with this status (scheduled, failed, …)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MOST)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Posts in a time range, soonest first."""
    if status and status not in render.STATUS_STYLE:
        raise CliError(f"--status {status!r} is not one of {', '.join(render.STATUS_STYLE)}")
    client = api(ctx)
    tz = config(ctx).timezone
    params: dict[str, Any] = {}
    if month:
        params["from"], params["to"] = month_bounds(month, tz)
    else:
        params["from"] = bound(since, tz) if since else (datetime.now(zone(tz)) - timedelta(minutes=5)).isoformat()
        if until:
            params["to"] = bound(until, tz, end=True)  # a day: to the end of it
    if review:
        params["review_state"] = review
    if campaign:
        params["campaign_id"] = campaign_id(client, campaign)
    posts, more = collect_posts(client, params, limit=limit, status=status)
    hint = f"\u2026 more posts; use --limit {min(limit * 2, MOST)}" if limit < MOST else \
        "\u2026 more posts; narrow the range with --month or --from/--to"
    if as_json:
        render.as_json(posts)
        if more:
            render.errors.print(hint, style="dim")  # standard output stays one JSON document
        return
    if not posts:
        render.console.print("no posts in that range")
        return
    render.console.print(render.posts_table(posts, tz))
    if more:
        render.console.print(hint, style="dim")


PAGE = 500  # posts asked for in one request (the most GET /v1/posts gives)


def collect_posts(client: Api, params: dict[str, Any], *, limit: int, status: str | None) -> tuple[list[dict], bool]:
    """Up to ``limit`` posts (with ``status``, if given), following the API's ``next_cursor``;
    and whether there are more. GET /v1/posts has no status filter (a post's status is worked out
    from its targets'), so it runs here, over every page it takes, not over the first page alone."""
    found: list[dict] = []
    cursor = None
    while True:
        # without a status filter every post counts: ask for one more than still wanted, to know
        # whether there are more; with one, ask for full pages.
        size = PAGE if status else min(PAGE, limit - len(found) + 1)
        page = client.get("/v1/posts", params=params | {"limit": size} | ({"cursor": cursor} if cursor else {}))
        for post in page["posts"]:
            if status and post["status"] != status:
                continue
            if len(found) == limit:
                return found, True
            found.append(post)
        cursor = page.get("next_cursor")
        if not cursor:
            return found, False


@command(posts_app, "show")
def show(ctx: typer.Context, post_id: str, as_json: JsonOpt = False) -> None:
    """A post, each target's status, its review and its content checks."""
    post = api(ctx).get(f"/v1/posts/{post_id}")
    render.as_json(post) if as_json else render.post_detail(post, config(ctx).timezone)


@command(posts_app, "submit")
def submit(ctx: typer.Context, post_id: str) -> None:
    """Submit a draft for review (the content checks run)."""
    post = api(ctx).post(f"/v1/posts/{post_id}/submit")
    render.console.print(f"[green]\u2713[/] {post['status']}  [dim]{post_id}[/]")
    render.findings(post.get("findings") or [])


@command(posts_app, "approve", (app, "approve"))
def approve(
    ctx: typer.Context,
    post_ids: Annotated[list[str], typer.Argument(help="One or more post ids")],
    comment: Annotated[str | None, typer.Option(help="A note for the author")] = None,
) -> None:
    """Approve posts in review (reviewers; not your own)."""
    client = api(ctx)
    for post_id in post_ids:
        post = client.post(f"/v1/posts/{post_id}/approve", json={"comment": comment} if comment else None)
        render.console.print(f"[green]\u2713[/] approved: {render.local_time(post, config(ctx).timezone)}  [dim]{post_id}[/]")


@command(posts_app, "send-back")
def send_back(
    ctx: typer.Context,
    post_id: str,
    comment: Annotated[str, typer.Option(help="What the author should change")],
) -> None:
    """Send a post back to its author as a draft, with a comment (reviewers)."""
    api(ctx).post(f"/v1/posts/{post_id}/send-back", json={"comment": comment})
    render.console.print(f"[yellow]\u21a9[/] sent back  [dim]{post_id}[/]")


@command(posts_app, "copy")
def copy(
    ctx: typer.Context,
    post_id: str,
    at: Annotated[str, typer.Option("--at", help="When: '2026-12-04 09:00' (local) or with an offset")],
    to: Annotated[list[str] | None, typer.Option("--to", help="Account (default: those that failed); repeat")] = None,
    text: Annotated[str | None, typer.Option(help="A new text (default: the original's)")] = None,
    media: Annotated[list[str] | None, typer.Option("--media", help="New media URLs (default: the original's)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a failed post again as a new post: fix its text or media, give it a new time."""
    client = api(ctx)
    when = parse_when(at)
    body: dict[str, Any] = {"scheduled_at": when.isoformat()}
    if when.tzinfo is None:
        body["timezone"] = config(ctx).timezone
    if to:
        body["targets"] = resolve_accounts(client, to)
    if text is not None:
        body["text"] = text
    if media:
        body["media"] = [{"url": url} for url in media]
    post = client.post(f"/v1/posts/{post_id}/copy", json=body)
    if as_json:
        render.as_json(post)
        return
    render.console.print(f"[green]\u2713[/] copied: {post['status']} {render.local_time(post, config(ctx).timezone)}"
                         f"  [dim]{post['post_id']}[/]")
    render.findings(post.get("findings") or [])


@command(posts_app, "cancel")
def cancel(
    ctx: typer.Context,
    post_id: str,
    reason: Annotated[str, typer.Option(help="Why (shown on each target)")] = "cancelled by a person",
) -> None:
    """Cancel what has not gone out (for a series: skip this occurrence)."""
    post = api(ctx).post(f"/v1/posts/{post_id}/cancel", json={"reason": reason})
    render.console.print(f"[green]\u2713[/] {post['status']}  [dim]{post_id}[/]")


@command(campaigns_app, "create")
def create_campaign(
    ctx: typer.Context,
    name: str,
    hashtag: Annotated[list[str] | None, typer.Option("--hashtag", help="Added to the campaign's posts; repeat")] = None,
    starts: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD")] = None,
    ends: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD")] = None,
    goal: Annotated[str | None, typer.Option(help="What the campaign is for")] = None,
) -> None:
    """Start a campaign."""
    body = {"name": name, "hashtags": hashtag or [], "starts_on": starts, "ends_on": ends, "goal": goal}
    out = api(ctx).post("/v1/campaigns", json={k: v for k, v in body.items() if v is not None})
    render.console.print(f"[green]\u2713[/] {out['name']}  {' '.join('#' + h for h in out['hashtags'])}  "
                         f"[dim]{out['campaign_id']}[/]")


@command(campaigns_app, "list")
def list_campaigns(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every campaign, with its hashtags and number of posts."""
    found = api(ctx).get("/v1/campaigns")["campaigns"]
    if as_json:
        render.as_json(found)
        return
    table = render.Table()
    for column in ("name", "hashtags", "dates", "posts", "goal", "id"):
        table.add_column(column)
    for c in found:
        table.add_row(c["name"], " ".join("#" + h for h in c["hashtags"]),
                      f"{c['starts_on'] or '…'} \u2013 {c['ends_on'] or '…'}", str(c["posts"]), c["goal"] or "",
                      f"[dim]{c['campaign_id']}[/]")
    render.console.print(table)
