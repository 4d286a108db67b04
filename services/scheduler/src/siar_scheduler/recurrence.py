"""RFC 5545 recurrence rules (RRULE), evaluated on the wall clock of an IANA time zone.

"Weekly on Friday at 09:00 in Europe/Amsterdam" stays at 09:00 local time across a
daylight-saving change: the rule is expanded on naive local date-times (python-dateutil) and each
occurrence is then placed in the zone. A local time skipped by a change (02:30 on the night the
clocks go forward) is read with the offset before the gap, as RFC 5545 section 3.3.5 asks, so it
lands at 03:30; a repeated local time takes its first occurrence.

A series posts at most once a local day: the time of day comes from the start, so BYHOUR,
BYMINUTE, BYSECOND and frequencies finer than DAILY are refused. That makes the local date the
natural key of an occurrence (``Occurrence.key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from .timing import TimeError, zone

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
PARTS = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "BYWEEKNO", "BYYEARDAY",
         "WKST", "COUNT", "UNTIL")
MAX_COUNT = 1000


class RecurrenceError(ValueError):
    pass


@dataclass(frozen=True)
class Occurrence:
    key: str
    """The occurrence's local date (ISO), its identity within the series."""
    local: datetime
    """The rule's local wall-clock time (naive)."""
    at: datetime
    """The instant, in UTC."""


@dataclass(frozen=True)
class Recurrence:
    rule: str
    """Normalised RRULE value, UNTIL as local time (``FREQ=WEEKLY;BYDAY=FR;UNTIL=20261231T235959``)."""
    start: datetime
    """DTSTART: the first candidate, naive local time; its time of day is every occurrence's."""
    timezone: str
    exdates: frozenset[date] = frozenset()

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def _rrule(self) -> rrule:
        return rrulestr("RRULE:" + self.rule, dtstart=self.start)  # type: ignore[return-value]

    def occurrences(self, after: datetime, before: datetime) -> list[Occurrence]:
        """Occurrences with ``after <= at < before`` (both aware), in order, skipped dates left out."""
        tz = self.tz
        # Widen the local window by a day each side: the instants are filtered exactly below.
        lo = after.astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
        hi = before.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
        found = []
        for local in self._rrule().between(max(lo, self.start), hi, inc=True):
            if local.date() in self.exdates:
                continue
            at = place(local, tz)
            if after <= at < before:
                found.append(Occurrence(key=local.date().isoformat(), local=local, at=at))
        return found

    def first(self) -> datetime | None:
        """The first local occurrence, skipped dates included (None: the rule yields nothing)."""
        return self._rrule().after(self.start, inc=True)

    def last(self) -> datetime | None:
        """The last local occurrence of a bounded rule (COUNT or UNTIL); None when unbounded."""
        if "COUNT=" not in self.rule and "UNTIL=" not in self.rule:
            return None
        return self._rrule().before(datetime.max, inc=True)


def place(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time: a repeated time takes its first occurrence,
    a skipped one the offset before the gap (RFC 5545: 02:30 in a 02:00-03:00 gap is 03:30)."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


_UNTIL_RE = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY_RE = re.compile(r"^([+-]?)(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
# RFC 5545 section 3.3.10: the numbers each part takes ("±" : also counted from the end; never 0).
_RANGES = {"BYMONTHDAY": (31, True), "BYYEARDAY": (366, True), "BYWEEKNO": (53, True), "BYMONTH": (12, False),
           "BYSETPOS": (366, True)}
MAX_INTERVAL = 1000


def _check_values(parts: dict[str, str]) -> None:
    """Refuse what RFC 5545 does not allow and dateutil would quietly accept or trip over later
    (BYMONTHDAY=0 dropped, making a monthly rule daily; INTERVAL=0 failing on expansion)."""
    if "INTERVAL" in parts:
        value = parts["INTERVAL"]
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_INTERVAL:
            raise RecurrenceError(f"INTERVAL={value}: give a whole number from 1 to {MAX_INTERVAL}"
                                  " (2 is every other one)")
    for name, (most, signed) in _RANGES.items():
        if name not in parts:
            continue
        for item in parts[name].split(","):
            digits = item[1:] if signed and item[:1] in "+-" else item
            if not (digits.isascii() and digits.isdigit()) or not 1 <= int(digits) <= most:
                allowed = f"1 to {most}, or -1 to -{most} counting from the end" if signed else f"1 to {most}"
                raise RecurrenceError(f"{name}={parts[name]}: {item or 'an empty item'} is not {allowed}")
    freq = parts["FREQ"]
    if "BYDAY" in parts:
        for item in parts["BYDAY"].split(","):
            m = _BYDAY_RE.match(item)
            if not m:
                raise RecurrenceError(f"BYDAY={parts['BYDAY']}: {item or 'an empty item'} is not a day"
                                      f" ({', '.join(_DAYS)}, optionally numbered: 1MO, -1FR)")
            if m.group(2) is not None:
                if freq not in ("MONTHLY", "YEARLY"):
                    raise RecurrenceError(f"BYDAY={item}: a numbered day (the first Monday, the last Friday) needs"
                                          " FREQ=MONTHLY or FREQ=YEARLY")
                most = 5 if freq == "MONTHLY" else 53
                if not 1 <= int(m.group(2)) <= most:
                    raise RecurrenceError(f"BYDAY={item}: with FREQ={freq} the number is 1 to {most}"
                                          f" (or -1 to -{most} counting from the end)")
    if "BYWEEKNO" in parts and freq != "YEARLY":
        raise RecurrenceError("BYWEEKNO needs FREQ=YEARLY")
    if "BYYEARDAY" in parts and freq == "MONTHLY":
        raise RecurrenceError("BYYEARDAY does not go with FREQ=MONTHLY")
    if "BYMONTHDAY" in parts and freq == "WEEKLY":
        raise RecurrenceError("BYMONTHDAY does not go with FREQ=WEEKLY")
    if "WKST" in parts and parts["WKST"] not in _DAYS:
        raise RecurrenceError(f"WKST={parts['WKST']}: the week starts on one of {', '.join(_DAYS)}")


def _until_local(value: str, tz: ZoneInfo) -> datetime:
    m = _UNTIL_RE.match(value)
    if not m:
        raise RecurrenceError(f"UNTIL={value} is not a date (20261231) or date-time (20261231T170000Z)")
    try:
        day = datetime.strptime(m.group(1), "%Y%m%d")
        if m.group(2) is None:
            return datetime.combine(day.date(), time(23, 59, 59))  # a date: through the end of that day
        moment = datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise RecurrenceError(f"UNTIL={value} is not a real date") from exc
    if m.group(3):
        return moment.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    return moment


def parse(
    rule: str,
    start: datetime,
    timezone: str,
    *,
    until: date | datetime | None = None,
    count: int | None = None,
    exdates: list[date] | tuple[date, ...] | frozenset[date] = (),
) -> Recurrence:
    """Check and normalise an RRULE value. ``until`` (a date: through the end of that local day)
    and ``count`` may be given here or inside the rule, not both."""
    try:
        tz = zone(timezone)
    except TimeError as exc:
        raise RecurrenceError(str(exc)) from exc
    if start.tzinfo is not None:
        start = start.astimezone(tz).replace(tzinfo=None)
    start = start.replace(microsecond=0)
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text:
        raise RecurrenceError("the rule is empty; for example FREQ=WEEKLY;BYDAY=FR")
    parts: dict[str, str] = {}
    for chunk in text.split(";"):
        if not chunk.strip():
            continue
        name, eq, value = chunk.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if not eq or not value:
            raise RecurrenceError(f"{chunk!r} is not NAME=VALUE")
        if name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
            raise RecurrenceError(f"{name} is not used: the time of day comes from the start ({start.time():%H:%M})")
        if name not in PARTS:
            raise RecurrenceError(f"{name} is not a recurrence rule part Siar takes ({', '.join(PARTS)})")
        if name in parts:
            raise RecurrenceError(f"{name} is given twice")
        parts[name] = value
    freq = parts.get("FREQ")
    if freq is None:
        raise RecurrenceError("FREQ is missing; for example FREQ=WEEKLY;BYDAY=FR")
    if freq not in FREQUENCIES:
        raise RecurrenceError(f"FREQ={freq}: a series posts at most once a day ({', '.join(FREQUENCIES)})")
    _check_values(parts)
    if until is not None:
        if "UNTIL" in parts:
            raise RecurrenceError("the end date is given twice (UNTIL in the rule and 'until')")
        parts["UNTIL"] = until.strftime("%Y%m%dT%H%M%S") if isinstance(until, datetime) else until.strftime("%Y%m%d")
    if count is not None:
        if "COUNT" in parts:
            raise RecurrenceError("the count is given twice (COUNT in the rule and 'count')")
        parts["COUNT"] = str(count)
    if "UNTIL" in parts and "COUNT" in parts:
        raise RecurrenceError("give an end date or a count, not both")
    if "COUNT" in parts:
        if not parts["COUNT"].isdigit() or not 1 <= int(parts["COUNT"]) <= MAX_COUNT:
            raise RecurrenceError(f"COUNT must be a whole number from 1 to {MAX_COUNT}")
    if "UNTIL" in parts:
        end = _until_local(parts["UNTIL"], tz)
        if end < start:
            raise RecurrenceError(f"the end ({end:%Y-%m-%d %H:%M}) is before the start ({start:%Y-%m-%d %H:%M})")
        parts["UNTIL"] = end.strftime("%Y%m%dT%H%M%S")
    normalised = ";".join(f"{name}={parts[name]}" for name in PARTS if name in parts)
    recurrence = Recurrence(rule=normalised, start=start, timezone=timezone, exdates=frozenset(exdates))
    try:
        first = recurrence.first()
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise RecurrenceError(f"not a valid RRULE: {exc}") from exc
    if first is None:
        raise RecurrenceError("the rule yields no date at all")
    return recurrence
