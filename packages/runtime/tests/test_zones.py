"""Every way ZoneInfo refuses a name is one UnknownZone, saying what a zone looks like."""

from __future__ import annotations

from datetime import UTC

import pytest
from siar_runtime.zones import UnknownZone, zone


@pytest.mark.parametrize("name", ["Mars/Olympus", "Asia", "Asia/", "a" * 300, "../etc/passwd", "", "zone.tab"])
def test_every_name_that_is_not_a_zone_is_one_error(name):
    with pytest.raises(UnknownZone, match="is not an IANA time zone"):
        zone(name)


def test_a_zone_is_taken():
    assert zone("Asia/Makassar").key == "Asia/Makassar"


def test_indonesian_abbreviations_become_iana_names():
    from siar_runtime.zones import canonical

    assert [canonical(n) for n in ("WIB", "wita", " WIT ", "Asia/Jakarta", None, "")] == [
        "Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura", "Asia/Jakarta", None, ""]


def test_a_query_day_or_time_as_a_librarian_writes_it():
    from datetime import datetime, timedelta, timezone

    from siar_runtime.zones import UnknownZone, query_instant

    wib = timezone(timedelta(hours=7))
    assert query_instant("2026-12-05", "Asia/Jakarta") == datetime(2026, 12, 5, tzinfo=wib)
    assert query_instant("2026-12-05", "Asia/Jakarta", end=True) == datetime(2026, 12, 6, tzinfo=wib)  # the day in
    assert query_instant("2026-12-05T09:30", "Asia/Jakarta", end=True) == datetime(2026, 12, 5, 9, 30, tzinfo=wib)
    assert query_instant(" 2026-12-05 09:30:00Z ", "Asia/Jakarta") == datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    for wrong in ("20261205", "2026-W49-6", "05/12/2026", "2026-02-30", "2026-12-05T25:00", ""):
        with pytest.raises(ValueError, match="is not a day \\(2026-12-05\\) or a time"):
            query_instant(wrong, "Asia/Jakarta")
    with pytest.raises(ValueError, match="last day of the calendar"):
        query_instant("9999-12-31", "Asia/Jakarta", end=True)
    with pytest.raises(UnknownZone):
        query_instant("2026-12-05", "Mars/Olympus")
