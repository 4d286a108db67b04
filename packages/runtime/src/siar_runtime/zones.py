"""IANA time zones by name, with one answer for every name that is not one.

``zoneinfo.ZoneInfo`` fails in several ways: ZoneInfoNotFoundError for an unknown name,
ValueError for one that is not a normalised relative path (``../etc/passwd``, ``""``) or a file
that is not a zone, and OSError for a directory of the tz database (``Asia``) or a name too long
for a file. Each service and the command line ask here, so none of them misses one (a 500)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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


def query_instant(text: str, name: str, *, end: bool = False) -> datetime:
    """A ``from`` or ``to`` of a query, as a librarian writes it: a day (``2026-12-05``: its
    midnight in the zone ``name``; as an ``end``, the midnight after it, so ``to=2026-12-05``
    takes in the 5th), or a time with an offset or without one (then in the zone ``name``).
    ValueError says what is expected."""
    text = text.strip()
    try:
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text)
            return localised(datetime.combine(day + timedelta(days=1) if end else day, datetime.min.time()), name)
        return localised(datetime.fromisoformat(text), name)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{text[:40]!r} is not a day (2026-12-05) or a time (2026-12-05T09:00, or with its "
                         "offset, 2026-12-05T09:00+07:00)") from exc
