from datetime import UTC, datetime

import pytest
from siar_scheduler.status import post_status
from siar_scheduler.timing import TimeError, local, resolve


def test_offset_times_are_taken_as_given():
    assert resolve(datetime.fromisoformat("2026-12-01T09:00:00+07:00"), None) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "utc_hour"),
    [("Asia/Jakarta", 2), ("Asia/Makassar", 1), ("Asia/Jayapura", 0)],  # WIB, WITA, WIT
)
def test_local_time_in_an_indonesian_zone(zone, utc_hour):
    assert resolve(datetime(2026, 12, 1, 9, 0), zone) == datetime(2026, 12, 1, utc_hour, 0, tzinfo=UTC)


def test_half_past_midnight_local_is_the_previous_day_in_utc():
    assert resolve(datetime(2026, 12, 1, 0, 30), "Asia/Jakarta") == datetime(2026, 11, 30, 17, 30, tzinfo=UTC)


def test_a_naive_time_without_a_zone_is_refused():
    with pytest.raises(TimeError, match="offset"):
        resolve(datetime(2026, 12, 1, 9, 0), None)


def test_an_unknown_zone_is_refused():
    with pytest.raises(TimeError, match="IANA"):
        resolve(datetime(2026, 12, 1, 9, 0), "Asia/Palembang")


def test_a_time_skipped_by_daylight_saving_is_refused():
    # Europe/Amsterdam skips 02:00-03:00 on 2026-03-29.
    with pytest.raises(TimeError, match="does not exist"):
        resolve(datetime(2026, 3, 29, 2, 30), "Europe/Amsterdam")


def test_a_repeated_hour_takes_the_first_occurrence():
    # 02:30 happens twice on 2026-10-25 in Amsterdam; the first is still summer time (UTC+2).
    assert resolve(datetime(2026, 10, 25, 2, 30), "Europe/Amsterdam") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_local_renders_in_the_posts_zone():
    instant = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert local(instant, "Asia/Jakarta").isoformat() == "2026-12-01T09:00:00+07:00"
    assert local(instant, None) == instant


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["scheduled", "scheduled"], "scheduled"),
        (["due", "scheduled"], "publishing"),
        (["retrying", "published"], "publishing"),
        (["published", "published"], "published"),
        (["published", "failed"], "partially_published"),
        (["failed"], "failed"),
        (["cancelled", "published"], "published"),
        (["cancelled"], "cancelled"),
    ],
)
def test_post_status_is_derived_from_its_targets(statuses, expected):
    assert post_status(statuses) == expected


def test_the_librarys_zone_may_be_written_as_people_write_it():
    from siar_scheduler.settings import SchedulerSettings

    assert SchedulerSettings(timezone="WITA").timezone == "Asia/Makassar"
