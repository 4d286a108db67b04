"""Accepting a time the way people write it: with an offset, or as local time in an IANA zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from siar_runtime import zones


class TimeError(ValueError):
    pass


canonical = zones.canonical


def zone(name: str) -> ZoneInfo:
    try:
        return zones.zone(name)
    except zones.UnknownZone as exc:
        raise TimeError(str(exc)) from exc


def resolve(when: datetime, timezone: str | None) -> datetime:
    """The UTC instant for ``when``: aware as given, or naive local time in ``timezone``.

    A local time that does not exist (skipped by a daylight-saving change) is refused rather than
    silently moved; an ambiguous one (repeated hour) takes the first occurrence."""
    if when.tzinfo is not None:
        if timezone is not None:
            zone(timezone)  # still validated, and kept for display
        return when.astimezone(UTC)
    if timezone is None:
        raise TimeError("give the time with an offset (2026-12-01T09:00:00+07:00) or name a timezone")
    tz = zone(timezone)
    local = when.replace(tzinfo=tz, fold=0)
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != when:
        raise TimeError(f"{when.isoformat()} does not exist in {timezone} (skipped by a daylight-saving change)")
    return utc


def local(instant: datetime, timezone: str | None) -> datetime:
    return instant.astimezone(zone(timezone)) if timezone else instant.astimezone(UTC)
