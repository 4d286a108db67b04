"""IANA time zones by name, with one answer for every name that is not one.

``zoneinfo.ZoneInfo`` fails in several ways: ZoneInfoNotFoundError for an unknown name,
ValueError for one that is not a normalised relative path (``../etc/passwd``, ``""``) or a file
that is not a zone, and OSError for a directory of the tz database (``Asia``) or a name too long
for a file. Each service and the command line ask here, so none of them misses one (a 500)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ABBREVIATIONS = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}
"""Indonesia's zones as people write them; every edge that takes a zone name (the APIs, CSV
import, settings, the command line) turns them into IANA names with :func:`canonical`, so no
abbreviation reaches PostgreSQL (``AT TIME ZONE``) or is stored."""


def canonical(name: str | None) -> str | None:
    """The IANA name for ``name`` (``WITA`` → ``Asia/Makassar``); other names as given."""
    return ABBREVIATIONS.get(name.strip().upper(), name) if name else name


class UnknownZone(ValueError):
    """Not an IANA time zone; the message says so in words."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise UnknownZone(f"{name!r} is not an IANA time zone (for example Asia/Jakarta)") from exc


def localised(value: datetime, name: str) -> datetime:
    """``value`` as given when it carries an offset; else a wall-clock time in the zone ``name``
    (a date alone is its midnight there): how a librarian writes ``from=2026-12-01`` for a report
    or an export means the library's day, not UTC's."""
    return value if value.tzinfo is not None else value.replace(tzinfo=zone(name))


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?")
_EXPECTED = "a day (2026-12-05) or a time (2026-12-05T09:00, or with its offset, 2026-12-05T09:00+07:00)"


def query_instant(text: str, name: str, *, end: bool = False) -> datetime:
    """A ``from`` or ``to`` of a query, as a librarian writes it: a day (``2026-12-05``: its
    midnight in the zone ``name``; as an ``end``, the midnight after it, so ``to=2026-12-05``
    takes in the 5th), or a time with an offset or without one (then in the zone ``name``).
    ValueError says what is expected (UnknownZone, one, when ``name`` is not a zone)."""
    zone(name)
    text = text.strip()
    wrong = ValueError(f"{text[:40]!r} is not {_EXPECTED}")
    if _DAY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise wrong from None
        if end and day == date.max:
            raise ValueError(f"{text} is the last day of the calendar; give a time on it instead")
        return localised(datetime.combine(day + timedelta(days=int(end)), datetime.min.time()), name)
    if _TIME.fullmatch(text):
        try:
            return localised(datetime.fromisoformat(text), name)
        except ValueError:
            raise wrong from None
    raise wrong
