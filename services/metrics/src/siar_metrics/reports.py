"""The reports: top posts, performance per campaign / hashtag / platform / account, audience
growth per account, and the best hours to post — each as JSON or CSV.

Every engagement rate here comes from the ``interactions`` and ``denominator`` stored with each
reading by :func:`siar_metrics.engagement.rate`: one post's rate is their quotient, several posts'
rate is :data:`~siar_metrics.engagement.AGGREGATE_SQL`. A post's reading is its latest one in the
period, or, with ``stage``, its reading at that step of the schedule (``1d``), which compares posts
at the same age."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
from siar_runtime import zones

from . import store
from .schemas import (
    AccountGrowth,
    AudienceGrowth,
    AudiencePoint,
    BestHours,
    Group,
    HourCell,
    Performance,
    Period,
    TopPost,
    TopPosts,
)
from .store import ORDERS, POST_VALUES


def _rate(interactions: float | None, denominator: float | None) -> float | None:
    return interactions / denominator if interactions is not None and denominator else None


async def top_posts(conn: asyncpg.Connection, period: Period, *, platform: str | None, stage: str | None,
                    order_by: str, limit: int) -> TopPosts:
    assert order_by in ORDERS
    rows = await store.top_posts(conn, period.start, period.end, platform, stage, order_by, limit)
    posts = [
        TopPost(
            rank=i, post_id=r["t_post_id"], target_id=r["target_id"], account_id=r["t_account_id"],
            handle=r["handle"], platform=r["platform"], url=r["url"], text=r["text"], hashtags=list(r["hashtags"]),
            campaign_id=r["campaign_id"], published_at=r["t_published_at"], collected_at=r["collected_at"],
            stage=r["stage"], interactions=r["interactions"] or 0, denominator=r["denominator"],
            engagement_rate=_rate(r["interactions"], r["denominator"]), engagement_basis=r["basis"],
            **{name: r[name] for name in POST_VALUES},
        )
        for i, r in enumerate(rows, start=1)
    ]
    return TopPosts(period=period, order_by=order_by, stage=stage, posts=posts)


async def performance(conn: asyncpg.Connection, period: Period, *, group_by: str, platform: str | None,
                      stage: str | None) -> Performance:
    rows = await store.performance(conn, period.start, period.end, platform, stage, group_by)
    groups = []
    for r in rows:
        groups.append(Group(
            key=r["key"], label=r["label"] or None, posts=r["posts"], targets=r["targets"],
            interactions=r["interactions"], denominator=r["denominator"], engagement_rate=r["engagement_rate"],
            engagement_basis=None,
            denominators={"reach": r["by_reach"], "views": r["by_views"], "followers": r["by_followers"],
                          "none": r["by_none"]},
            **{name: r[name] for name in POST_VALUES},
        ))
    return Performance(period=period, group_by=group_by, stage=stage, groups=groups)  # type: ignore[arg-type]


async def audience(conn: asyncpg.Connection, period: Period, *, timezone: str, platform: str | None,
                   account_id: str | None) -> AudienceGrowth:
    rows = await store.audience(conn, period.start, period.end, timezone, platform, account_id)
    accounts: dict[str, AccountGrowth] = {}
    for r in rows:
        growth = accounts.get(r["account_id"])
        if growth is None:
            growth = accounts[r["account_id"]] = AccountGrowth(
                account_id=r["account_id"], platform=r["platform"], handle=r["handle"], start_followers=None,
                end_followers=None, change=None, change_percent=None, series=[],
            )
        growth.series.append(AudiencePoint(day=r["day"], followers=r["followers"], collected_at=r["collected_at"]))
    for growth in accounts.values():
        first, last = growth.series[0].followers, growth.series[-1].followers
        growth.start_followers, growth.end_followers, growth.change = first, last, last - first
        growth.change_percent = (last - first) / first * 100 if first else None
    ordered = sorted(accounts.values(), key=lambda g: (-(g.change or 0), g.platform, g.handle or ""))
    return AudienceGrowth(period=period, timezone=timezone, accounts=ordered)


async def best_hours(conn: asyncpg.Connection, period: Period, *, timezone: str, platform: str | None,
                     stage: str | None, min_posts: int, top: int = 5) -> BestHours:
    rows = await store.best_hours(conn, period.start, period.end, timezone, platform, stage)
    cells = [HourCell(day_of_week=r["dow"], hour=r["hour"], posts=r["posts"], targets=r["targets"],
                      mean_interactions=r["mean_interactions"], engagement_rate=r["engagement_rate"]) for r in rows]
    grid: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    for cell in cells:
        grid[cell.day_of_week - 1][cell.hour] = cell.engagement_rate
    ranked = sorted(
        (c for c in cells if c.posts >= min_posts and c.engagement_rate is not None),
        key=lambda c: (-(c.engagement_rate or 0), -c.posts, c.day_of_week, c.hour),
    )
    return BestHours(period=period, timezone=timezone, stage=stage, cells=cells, grid=grid, best=ranked[:top])


# --------------------------------------------------------------------------- CSV

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: text that would start a formula gets a leading
    apostrophe (numbers are written as they are)."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if text.lstrip(" ")[:1] in FORMULA_STARTS and text.lstrip(" "):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """UTF-8 with a byte-order mark so spreadsheets read it right; CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return "\ufeff" + out.getvalue()


def _local(when: datetime, timezone: str) -> datetime:
    """A time as the library reads it in a spreadsheet: its local time, the offset kept (so the
    cell still names one instant)."""
    return when.astimezone(zones.zone(timezone))


def top_posts_csv(report: TopPosts, timezone: str) -> str:
    """Times in the library's zone (``timezone``), with their offset."""
    header = ("rank", "post_id", "target_id", "platform", "account_id", "handle", "published_at", "collected_at",
              "stage", *POST_VALUES, "interactions", "engagement_rate", "engagement_basis", "campaign_id", "hashtags",
              "url", "text")
    return to_csv(header, (
        (p.rank, p.post_id, p.target_id, p.platform, p.account_id, p.handle, _local(p.published_at, timezone),
         _local(p.collected_at, timezone), p.stage,
         *(getattr(p, name) for name in POST_VALUES), p.interactions, p.engagement_rate, p.engagement_basis,
         p.campaign_id, " ".join("#" + t for t in p.hashtags), p.url, p.text)
        for p in report.posts
    ))


def performance_csv(report: Performance) -> str:
    header = (report.group_by, "label", "posts", "targets", *POST_VALUES, "interactions", "engagement_rate",
              "rated_by_reach", "rated_by_views", "rated_by_followers", "not_rated")
    return to_csv(header, (
        (g.key, g.label, g.posts, g.targets, *(getattr(g, name) for name in POST_VALUES), g.interactions,
         g.engagement_rate, g.denominators["reach"], g.denominators["views"], g.denominators["followers"],
         g.denominators["none"])
        for g in report.groups
    ))


def audience_csv(report: AudienceGrowth, timezone: str) -> str:
    """Days and times in the library's zone (``timezone``)."""
    header = ("account_id", "platform", "handle", "day", "followers", "collected_at")
    return to_csv(header, (
        (a.account_id, a.platform, a.handle, p.day.isoformat(), p.followers, _local(p.collected_at, timezone))
        for a in report.accounts for p in a.series
    ))


def best_hours_csv(report: BestHours) -> str:
    header = ("day_of_week", "hour", "posts", "targets", "mean_interactions", "engagement_rate")
    return to_csv(header, ((c.day_of_week, c.hour, c.posts, c.targets, c.mean_interactions, c.engagement_rate)
                           for c in report.cells))
