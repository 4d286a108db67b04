"""Event promotion: the countdown posts of one event (7, 3, 1 days before and on the day), each
with its own text from a template.

Placeholders: ``{title}``, ``{days}`` (days remaining), ``{countdown}`` ("7 hari lagi", "Besok",
"Hari ini" — or in English), ``{date}``, ``{time}``, ``{place}``, ``{link}``. A template line
whose placeholders all came out empty (an event without a link) is left out."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .recurrence import place

HARI = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
BULAN = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
         "Oktober", "November", "Desember"]
ZONE_ABBREVIATIONS = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
                      "Asia/Jayapura": "WIT"}
PLACEHOLDERS = ("title", "days", "countdown", "date", "time", "place", "link")

DEFAULT_TEMPLATES = {
    "id": "{countdown}: {title}!\n{date}, pukul {time}\n{place}\n{link}",
    "en": "{countdown}: {title}!\n{date}, {time}\n{place}\n{link}",
}


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class CountdownPost:
    days: int
    key: str
    local: datetime
    at: datetime
    text: str


@dataclass(frozen=True)
class Event:
    title: str
    starts: datetime
    """The event's start, naive local time in ``timezone``."""
    timezone: str
    place: str | None = None
    link: str | None = None
    days_before: tuple[int, ...] = (7, 3, 1, 0)
    post_time: time = time(9, 0)
    template: str | None = None
    templates: dict[int, str] = field(default_factory=dict)
    language: str = "id"


def countdown_phrase(days: int, language: str) -> str:
    if language == "en":
        return {0: "Today", 1: "Tomorrow"}.get(days, f"{days} days to go")
    return {0: "Hari ini", 1: "Besok"}.get(days, f"{days} hari lagi")


def long_date(day: date, language: str) -> str:
    if language == "en":
        return f"{day:%A} {day.day} {day:%B} {day.year}"
    return f"{HARI[day.weekday()]}, {day.day} {BULAN[day.month - 1]} {day.year}"


def clock(moment: datetime, timezone: str, language: str) -> str:
    abbreviation = ZONE_ABBREVIATIONS.get(timezone) or moment.replace(tzinfo=ZoneInfo(timezone)).tzname() or ""
    shown = f"{moment:%H.%M}" if language == "id" else f"{moment:%H:%M}"
    return f"{shown} {abbreviation}".strip()


def check_template(template: str) -> None:
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:
        raise TemplateError(f"the template is not well formed ({exc}); write placeholders as {{days}}") from exc
    # {title:d} or {title!r} passed the names and failed only when a post was written (a 500).
    shaped = [f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
              for name, spec, conversion in fields if spec or conversion]
    if shaped:
        raise TemplateError(f"{', '.join(shaped)}: placeholders take no format, write them plain as {{days}}")
    names = [name for name, _, _ in fields]
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        raise TemplateError(
            f"unknown placeholder {', '.join('{' + n + '}' for n in unknown)}; "
            f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
        )


def render(template: str, values: dict[str, str]) -> str:
    """Fill the template; a line whose placeholders all came out empty is left out."""
    lines = []
    formatter = string.Formatter()
    for line in template.split("\n"):
        names = [name for _, name, _, _ in formatter.parse(line) if name]
        filled = line.format_map(values)
        if names and not any(values.get(n) for n in names):
            continue
        lines.append(filled.rstrip())
    return "\n".join(lines).strip()


def post_time_on(event: Event, days: int) -> datetime:
    """When the countdown post for ``days`` before goes out (local). On the day itself, at the
    usual time or, when the event starts earlier than that, an hour before it (not before 00:00)."""
    day = event.starts.date() - timedelta(days=days)
    at = datetime.combine(day, event.post_time)
    if days == 0 and at >= event.starts:
        at = max(event.starts - timedelta(hours=1), datetime.combine(day, time(0, 0)))
    return at


def posts(event: Event) -> list[CountdownPost]:
    """Every countdown post of the event, earliest first (whether past or not)."""
    tz = ZoneInfo(event.timezone)
    default = event.template or DEFAULT_TEMPLATES.get(event.language, DEFAULT_TEMPLATES["id"])
    out = []
    for days in sorted(set(event.days_before), reverse=True):
        local = post_time_on(event, days)
        values = {
            "title": event.title,
            "days": str(days),
            "countdown": countdown_phrase(days, event.language),
            "date": long_date(event.starts.date(), event.language),
            "time": clock(event.starts, event.timezone, event.language),
            "place": event.place or "",
            "link": event.link or "",
        }
        text = render(event.templates.get(days, default), values)
        out.append(CountdownPost(days=days, key=f"D-{days}", local=local, at=place(local, tz), text=text))
    return out
