"""IANA time zones by name, with one answer for every name that is not one.

``zoneinfo.ZoneInfo`` fails in several ways: ZoneInfoNotFoundError for an unknown name,
ValueError for one that is not a normalised relative path (``../etc/passwd``, ``""``) or a file
that is not a zone, and OSError for a directory of the tz database (``Asia``) or a name too long
for a file. Each service and the command line ask here, so none of them misses one (a 500)."""

from __future__ import annotations

from datetime import datetime
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
