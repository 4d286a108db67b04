"""The due-to-confirmed lateness: the due time read straight out of a post.due body, and the
histogram it feeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from siar_contracts import PostCancelled, PostDue, spec_for_model
from siar_runtime.metrics import ChassisMetrics
from siar_scheduler.metrics import SchedulerMetrics, due_at_in

DUE = datetime(2026, 12, 4, 18, 30, 0, 250_000, tzinfo=UTC)


def post_due(text: str) -> bytes:
    payload = PostDue(post_id="p1", target_id="t1", account_id="a1", platform="mastodon", due_at=DUE, text=text)
    return spec_for_model(PostDue).envelope(payload, source="/siar/scheduler", correlation_id="c1").to_json()


def test_the_due_time_is_read_from_a_post_due_body():
    assert datetime.fromisoformat(due_at_in(post_due("Story time at ten"))) == DUE


def test_a_text_quoting_the_field_does_not_fool_it():
    assert datetime.fromisoformat(due_at_in(post_due('Our API says "due_at":"1999-01-01T00:00:00Z" here'))) == DUE


def test_a_body_without_a_due_time_gives_none():
    other = spec_for_model(PostCancelled).envelope(
        PostCancelled(post_id="p1", target_ids=["t1"], reason="test"), source="/siar/scheduler", correlation_id="c1")
    assert due_at_in(other.to_json()) is None


def test_confirmed_post_due_are_observed_by_their_lateness():
    metrics = SchedulerMetrics(ChassisMetrics("scheduler-metrics-test"))
    now = datetime.now(UTC)
    metrics.observe_confirmed([(now - timedelta(milliseconds=30)).isoformat(), (now - timedelta(seconds=2)).isoformat(),
                               None, "not a time", "2026-12-04T18:00:00"])  # no offset: not counted
    # what due_at_in finds in a body that is not a time is not counted either
    metrics.observe_confirmed([due_at_in(b'{"data":{"due_at":"not a time"}}')])
    registry = metrics.chassis.registry
    name = "siar_scheduler_due_confirmed_seconds"
    assert registry.get_sample_value(f"{name}_count") == 2
    assert registry.get_sample_value(f"{name}_bucket", {"le": "0.05"}) == 1
    assert registry.get_sample_value(f"{name}_bucket", {"le": "2.5"}) == 2
