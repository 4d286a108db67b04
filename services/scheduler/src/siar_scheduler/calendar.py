"""The content calendar: month and week views in the library's zone, and where the plan falls
short of each account's posting rhythm (so many posts a week or a month)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
from siar_runtime.problems import TYPE_BASE, Problem

from . import planning_store as plans
from .schemas import CalendarDay, CalendarPost, CalendarView, GapList, GapOut
from .status import post_status
from .timing import zone

WEEKDAYS = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]


@dataclass(frozen=True)
class Period:
    label: str
    start: date
    end: date  # inclusive


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return Period(f"{year:04d}-{month:02d}", start, following - timedelta(days=1))


def week_period(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    iso = monday.isocalendar()
    return Period(f"{iso.year:04d}-W{iso.week:02d}", monday, monday + timedelta(days=6))


def parse_month(value: str | None, today: date) -> tuple[int, int]:
    if value is None:
        return today.year, today.month
    m = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise Problem(422, "Invalid request", f"month {value!r} is not YYYY-MM", type_=TYPE_BASE + "validation")
    return int(m.group(1)), int(m.group(2))


def parse_week(value: str | None, day: date | None, today: date) -> date:
    if value is not None:
        m = re.fullmatch(r"(\d{4})-W(\d{2})", value)
        if not m:
            raise Problem(422, "Invalid request", f"week {value!r} is not YYYY-Www (2026-W50)", type_=TYPE_BASE + "validation")
        try:
            return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError as exc:
            raise Problem(422, "Invalid request", f"there is no week {value}", type_=TYPE_BASE + "validation") from exc
    return day or today


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def bounds(tz: str, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC instants of local midnight at ``first`` and after ``last``."""
    z = zone(tz)
    start = datetime.combine(first, time(0), tzinfo=z).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=z).astimezone(UTC)
    return start, end


def today_in(tz: str) -> date:
    return datetime.now(zone(tz)).date()


async def view(conn: asyncpg.Connection, kind: str, period: Period, tz: str) -> CalendarView:
    start, end = bounds(tz, period.start, period.end)
    z = zone(tz)
    by_day: dict[date, list[CalendarPost]] = {}
    for r in await plans.calendar_rows(conn, start, end):
        when = r["scheduled_at"].astimezone(z)
        text = r["text"]
        by_day.setdefault(when.date(), []).append(CalendarPost(
            post_id=r["post_id"], local_time=f"{when:%H:%M}", scheduled_at=r["scheduled_at"],
            status=post_status(r["statuses"], r["review_state"]), review_state=r["review_state"],
            text=text if len(text) <= 140 else text[:139] + "\u2026",
            platforms=list(r["platforms"]), account_ids=list(r["account_ids"]),
            campaign_id=r["campaign_id"], campaign=r["campaign"], series_id=r["series_id"],
        ))
    days = []
    day = period.start
    while day <= period.end:
        days.append(CalendarDay(date=day, weekday=WEEKDAYS[day.weekday()], posts=by_day.get(day, [])))
        day += timedelta(days=1)
    found = await shortfalls(conn, tz, period)
    return CalendarView(timezone=tz, view=kind, period=period.label, start=period.start, end=period.end,
                        days=days, gaps=[g for g in found if g.shortfall > 0])


async def shortfalls(conn: asyncpg.Connection, tz: str, *spans: Period) -> list[GapOut]:
    """For every account with a rhythm, each of its periods (months, or weeks from Monday) that
    overlaps ``spans``: how many posts are planned against the target."""
    rhythms = await plans.rhythms(conn)
    if not rhythms:
        return []
    first = min(s.start for s in spans)
    last = max(s.end for s in spans)
    months = []
    year, mon = first.year, first.month
    while date(year, mon, 1) <= last:
        months.append(month_period(year, mon))
        year, mon = next_month(year, mon)
    weeks = [week_period(first)]
    while weeks[-1].end < last:
        weeks.append(week_period(weeks[-1].end + timedelta(days=1)))
    periods = {"month": months, "week": weeks}
    start, end = bounds(tz, min(months[0].start, weeks[0].start), max(months[-1].end, weeks[-1].end))
    z = zone(tz)
    planned: Counter = Counter()
    waiting: Counter = Counter()
    for r in await plans.planned_targets(conn, start, end):
        day = r["due_at"].astimezone(z).date()
        for per, items in periods.items():
            for p in items:
                if p.start <= day <= p.end:
                    planned[(r["account_id"], per, p.label)] += 1
                    if r["review_state"] != "approved":
                        waiting[(r["account_id"], per, p.label)] += 1
    out = []
    for rh in rhythms:
        for p in periods[rh["per"]]:
            key = (rh["account_id"], rh["per"], p.label)
            out.append(GapOut(
                account_id=rh["account_id"], platform=rh["platform"], handle=rh["handle"], period=p.label,
                start=p.start, end=p.end, target=rh["posts"], planned=planned[key], awaiting_review=waiting[key],
                shortfall=max(0, rh["posts"] - planned[key]),
            ))
    return out


async def gaps(conn: asyncpg.Connection, tz: str, month: str | None, months: int) -> GapList:
    year, mon = parse_month(month, today_in(tz))
    spans = []
    for _ in range(months):
        spans.append(month_period(year, mon))
        year, mon = next_month(year, mon)
    found = await shortfalls(conn, tz, *spans)
    return GapList(timezone=tz, months=[s.label for s in spans], gaps=[g for g in found if g.shortfall > 0],
                   periods=found)
