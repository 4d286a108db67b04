"""RRULE expansion in a zone's wall clock: examples, daylight-saving edges, and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st
from siar_scheduler.recurrence import RecurrenceError, parse, place

FAR = datetime(2100, 1, 1, tzinfo=UTC)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekly_on_friday_at_nine_in_jakarta():
    rule = parse("FREQ=WEEKLY;BYDAY=FR", datetime(2026, 12, 4, 9, 0), "Asia/Jakarta", count=3)
    found = rule.occurrences(EPOCH, FAR)
    assert [o.key for o in found] == ["2026-12-04", "2026-12-11", "2026-12-18"]
    assert [o.at for o in found] == [utc(2026, 12, 4, 2), utc(2026, 12, 11, 2), utc(2026, 12, 18, 2)]


def test_first_and_third_monday_of_the_month():
    rule = parse("RRULE:FREQ=MONTHLY;BYDAY=1MO,3MO", datetime(2027, 1, 1, 10, 0), "Asia/Makassar", until=date(2027, 3, 31))
    keys = [o.key for o in rule.occurrences(EPOCH, FAR)]
    assert keys == ["2027-01-04", "2027-01-18", "2027-02-01", "2027-02-15", "2027-03-01", "2027-03-15"]
    assert rule.last() == datetime(2027, 3, 15, 10, 0)


def test_a_weekly_series_keeps_its_wall_clock_across_a_daylight_saving_change():
    # Amsterdam goes from UTC+1 to UTC+2 on 2026-03-29.
    rule = parse("FREQ=WEEKLY;BYDAY=FR", datetime(2026, 3, 20, 9, 0), "Europe/Amsterdam", count=3)
    found = rule.occurrences(EPOCH, FAR)
    tz = ZoneInfo("Europe/Amsterdam")
    assert [o.at.astimezone(tz).time() for o in found] == [time(9, 0)] * 3
    assert [o.at for o in found] == [utc(2026, 3, 20, 8), utc(2026, 3, 27, 8), utc(2026, 4, 3, 7)]


def test_new_york_autumn_change_keeps_nine_oclock():
    # New York goes from UTC-4 to UTC-5 on 2026-11-01.
    rule = parse("FREQ=WEEKLY;BYDAY=SA", datetime(2026, 10, 24, 9, 0), "America/New_York", count=2)
    assert [o.at for o in rule.occurrences(EPOCH, FAR)] == [utc(2026, 10, 24, 13), utc(2026, 10, 31, 13)]
    rule = parse("FREQ=WEEKLY;BYDAY=SU", datetime(2026, 10, 25, 9, 0), "America/New_York", count=2)
    assert [o.at for o in rule.occurrences(EPOCH, FAR)] == [utc(2026, 10, 25, 13), utc(2026, 11, 1, 14)]


def test_a_time_skipped_by_the_clocks_going_forward_takes_the_offset_before_the_gap():
    # 02:30 does not exist in Amsterdam on 2026-03-29; RFC 5545 reads it as 03:30 local.
    rule = parse("FREQ=DAILY", datetime(2026, 3, 28, 2, 30), "Europe/Amsterdam", count=3)
    found = rule.occurrences(EPOCH, FAR)
    tz = ZoneInfo("Europe/Amsterdam")
    assert [o.at.astimezone(tz).strftime("%d %H:%M") for o in found] == ["28 02:30", "29 03:30", "30 02:30"]
    assert len({o.at for o in found}) == 3


def test_half_past_midnight_in_jakarta_is_the_previous_day_in_utc():
    rule = parse("FREQ=DAILY", datetime(2026, 12, 1, 0, 30), "Asia/Jakarta", count=2)
    found = rule.occurrences(EPOCH, FAR)
    assert [o.key for o in found] == ["2026-12-01", "2026-12-02"]
    assert found[0].at == utc(2026, 11, 30, 17, 30)


def test_the_window_and_skipped_dates():
    rule = parse("FREQ=DAILY", datetime(2026, 12, 1, 9, 0), "Asia/Jakarta", exdates=[date(2026, 12, 3)])
    found = rule.occurrences(utc(2026, 12, 2, 2), utc(2026, 12, 5, 2))
    assert [o.key for o in found] == ["2026-12-02", "2026-12-04"]  # [from, to): 12-05 02:00 UTC is out
    assert rule.last() is None  # unbounded


def test_until_in_utc_is_read_in_the_zone():
    # 2026-12-18T02:00Z is 09:00 in Jakarta: that Friday is the last.
    rule = parse("FREQ=WEEKLY;BYDAY=FR;UNTIL=20261218T020000Z", datetime(2026, 12, 4, 9, 0), "Asia/Jakarta")
    assert [o.key for o in rule.occurrences(EPOCH, FAR)][-1] == "2026-12-18"
    assert "UNTIL=20261218T090000" in rule.rule


def test_an_until_date_includes_that_day():
    rule = parse("FREQ=WEEKLY;BYDAY=FR;UNTIL=20261218", datetime(2026, 12, 4, 9, 0), "Asia/Jakarta")
    assert [o.key for o in rule.occurrences(EPOCH, FAR)] == ["2026-12-04", "2026-12-11", "2026-12-18"]


@pytest.mark.parametrize(
    ("rule", "kwargs", "words"),
    [
        ("FREQ=HOURLY", {}, "at most once a day"),
        ("FREQ=DAILY;BYHOUR=9,17", {}, "time of day comes from the start"),
        ("BYDAY=FR", {}, "FREQ is missing"),
        ("FREQ=WEEKLY;COUNT=3", {"until": date(2027, 1, 1)}, "not both"),
        ("FREQ=WEEKLY;COUNT=3", {"count": 4}, "given twice"),
        ("FREQ=WEEKLY;BYDAY=XX", {}, "XX is not a day"),
        ("FREQ=WEEKLY;FOO=1", {}, "not a recurrence rule part"),
        ("FREQ=WEEKLY;UNTIL=20200101", {}, "before the start"),
        ("FREQ=WEEKLY;COUNT=0", {}, "COUNT must be"),
        ("", {}, "empty"),
        ("FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=2", {}, "no date"),
        # RFC 5545's ranges, which dateutil does not check: BYMONTHDAY=0 was dropped (a monthly
        # rule posting daily), INTERVAL=0 failed only when expanded (a 500).
        ("FREQ=MONTHLY;BYMONTHDAY=0", {}, "0 is not 1 to 31, or -1 to -31"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,32", {}, "32 is not 1 to 31"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,", {}, "an empty item"),
        ("FREQ=WEEKLY;INTERVAL=0", {}, "INTERVAL=0: give a whole number from 1"),
        ("FREQ=DAILY;INTERVAL=-1", {}, "INTERVAL=-1"),
        ("FREQ=YEARLY;BYMONTH=13", {}, "13 is not 1 to 12"),
        ("FREQ=YEARLY;BYYEARDAY=-367", {}, "-367 is not"),
        ("FREQ=MONTHLY;BYDAY=9MO", {}, "with FREQ=MONTHLY the number is 1 to 5"),
        ("FREQ=WEEKLY;BYDAY=1MO", {}, "needs FREQ=MONTHLY or FREQ=YEARLY"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0", {}, "BYSETPOS"),
        ("FREQ=MONTHLY;BYWEEKNO=3", {}, "BYWEEKNO needs FREQ=YEARLY"),
        ("FREQ=WEEKLY;BYMONTHDAY=3", {}, "does not go with FREQ=WEEKLY"),
        ("FREQ=WEEKLY;WKST=XX", {}, "WKST=XX"),
    ],
)
def test_rules_that_are_refused_say_why(rule, kwargs, words):
    with pytest.raises(RecurrenceError, match=words):
        parse(rule, datetime(2026, 12, 4, 9, 0), "Asia/Jakarta", **kwargs)


@pytest.mark.parametrize("rule", [
    "FREQ=MONTHLY;BYMONTHDAY=-1", "FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=+2SA", "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-1",
    "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "FREQ=YEARLY;BYDAY=20MO", "FREQ=YEARLY;BYYEARDAY=1,-1",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;WKST=SU", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25",
])
def test_rules_within_the_rfc_ranges_are_taken(rule):
    assert parse(rule, datetime(2026, 12, 4, 9, 0), "Asia/Jakarta").first() is not None


def test_an_unknown_zone_is_refused():
    with pytest.raises(RecurrenceError, match="IANA"):
        parse("FREQ=DAILY", datetime(2026, 12, 4, 9, 0), "Asia/Palembang")


# -- properties -------------------------------------------------------------------------------

ZONES = ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura", "Europe/Amsterdam", "America/New_York",
         "Australia/Lord_Howe", "Pacific/Chatham"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def rules(draw):
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 4))}"]
    byday = None
    if freq == "WEEKLY" and draw(st.booleans()):
        byday = sorted(set(draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=4))), key=DAYS.index)
        parts.append("BYDAY=" + ",".join(byday))
    if freq == "MONTHLY" and draw(st.booleans()):
        nth = draw(st.lists(st.sampled_from([1, 2, 3, -1]), min_size=1, max_size=2, unique=True))
        day = draw(st.sampled_from(DAYS))
        parts.append("BYDAY=" + ",".join(f"{n}{day}" for n in nth))
        byday = [day]
    start = draw(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31))).replace(second=0, microsecond=0)
    bound = draw(st.sampled_from(["count", "until", "none"]))
    count = draw(st.integers(1, 60)) if bound == "count" else None
    until = (start + timedelta(days=draw(st.integers(0, 800)))).date() if bound == "until" else None
    exdates = draw(st.lists(st.dates(min_value=start.date(), max_value=start.date() + timedelta(days=400)), max_size=3))
    return ";".join(parts), start, draw(st.sampled_from(ZONES)), count, until, byday, exdates


@settings(max_examples=150, deadline=None)
@given(rules())
def test_every_occurrence_matches_the_rule_in_the_zones_wall_clock(case):
    rule_text, start, tz_name, count, until, byday, exdates = case
    try:
        rule = parse(rule_text, start, tz_name, count=count, until=until, exdates=exdates)
    except RecurrenceError:
        return  # e.g. a rule that yields no date at all
    tz = ZoneInfo(tz_name)
    window_end = place(start + timedelta(days=900), tz)
    found = rule.occurrences(EPOCH, window_end)
    # The same rule expanded on naive local times, independently.
    reference = rrulestr(f"RRULE:{rule_text}", dtstart=start)
    if count:
        reference = reference.replace(count=count)
    if until:
        reference = reference.replace(until=datetime.combine(until, time(23, 59, 59)))
    locals_ = [d for d in reference.between(start, start + timedelta(days=901), inc=True) if d.date() not in set(exdates)]
    locals_ = [d for d in locals_ if place(d, tz) < window_end]
    assert [o.local for o in found] == locals_

    keys = [o.key for o in found]
    assert len(keys) == len(set(keys)), "no two posts on one local day"
    assert [o.at for o in found] == sorted(o.at for o in found), "in order"
    assert len({o.at for o in found}) == len(found), "no duplicate instants"
    for o in found:
        assert o.local.time() == start.time(), "every occurrence at the start's time of day"
        assert o.key == o.local.date().isoformat()
        assert o.local.date() not in set(exdates)
        back = o.at.astimezone(tz).replace(tzinfo=None)
        if back != o.local:  # only when the zone skips that local time
            gap = (o.local.replace(tzinfo=tz, fold=0).utcoffset() - o.local.replace(tzinfo=tz, fold=1).utcoffset())
            assert back - o.local == abs(gap) and gap != timedelta(0)
        if byday:
            assert DAYS[o.local.weekday()] in byday
        if until:
            assert o.local.date() <= until
    if count:
        every = list(reference)  # bounded by COUNT
        assert len(every) == count
        skipped = sum(1 for d in every if d.date() in set(exdates))
        assert len(found) <= count - skipped
        if place(every[-1], tz) < window_end:
            assert len(found) == count - skipped, "COUNT occurrences, less the skipped ones"
