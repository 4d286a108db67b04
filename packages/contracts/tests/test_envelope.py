import re
from datetime import UTC, datetime

import pytest
from siar_contracts import (
    EVENTS,
    CloudEvent,
    EnvelopeError,
    FeedbackResponseSubmitted,
    PostDue,
    spec_for_model,
    spec_for_type,
)


def _due() -> PostDue:
    return PostDue(
        post_id="p1", target_id="t1", account_id="a1", platform="mastodon",
        due_at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC), text="Halo",
    )


def test_envelope_round_trip_in_structured_mode():
    spec = spec_for_model(PostDue)
    event = spec.envelope(_due(), source="/siar/scheduler", correlation_id="c1", subject="target/t1")
    assert event.type == "org.siar.post.due.v1"
    assert event.short_name == "post.due"
    decoded = CloudEvent.from_json(event.to_json())
    assert decoded == event
    assert decoded.specversion == "1.0"
    assert decoded.correlationid == "c1"
    assert spec.parse(decoded) == _due()


def test_every_event_has_a_unique_versioned_type():
    types = [spec.type for spec in EVENTS]
    assert len(types) == len(set(types))
    for spec in EVENTS:
        assert spec.type.startswith("org.siar.") and spec.type.endswith(f".v{spec.version}")
        assert spec_for_type(spec.type) is spec


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"not json", "body"),
        (b'{"specversion":"1.0"}', "source"),
        (b'{"specversion":"0.3","id":"1","source":"s","type":"t","correlationid":"c","data":{}}', "specversion"),
        (b'{"id":"1","source":"s","type":"t","correlationid":"c","data":{},"time":"2026-01-01T00:00:00"}', "time"),
        # Required by CloudEvents 1.0: a received event without an id would get a new one on each
        # delivery, so a redelivery could never be recognised (it was stored twice).
        (b'{"specversion":"1.0","source":"s","type":"t","correlationid":"c","data":{}}', "id: Field required"),
        (b'{"id":"1","source":"s","type":"t","correlationid":"c","data":{}}', "specversion: Field required"),
    ],
)
def test_unreadable_envelopes_say_where(body, where):
    with pytest.raises(EnvelopeError, match=where):
        CloudEvent.from_json(body)


def test_payload_is_checked_against_its_schema():
    spec = spec_for_model(PostDue)
    event = CloudEvent(source="s", type=spec.type, correlationid="c", data={"post_id": "p"})
    with pytest.raises(ValueError, match="target_id"):
        spec.parse(event)


def test_envelope_refuses_the_wrong_payload():
    with pytest.raises(TypeError):
        spec_for_type("org.siar.post.published.v1").envelope(_due(), source="s", correlation_id="c")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "true or false is not an answer"),
        (4.5, "a score is a whole number, not 4.5"),
        ([1], "a text or a list of texts"),
        ({"a": "b"}, "a text or a list of texts"),
        (None, "a text or a list of texts"),
    ],
)
def test_a_survey_answer_is_taken_as_sent_never_coerced(value, message):
    spec = spec_for_model(FeedbackResponseSubmitted)
    event = CloudEvent(source="s", type=spec.type, correlationid="c",
                       data={"survey": "kepuasan", "answers": {"kepuasan": value}})
    with pytest.raises(ValueError, match=re.escape(message)):
        spec.parse(event)


def test_a_survey_answer_keeps_its_json_type_and_a_whole_number_may_carry_a_point():
    answers = {"kepuasan": 4.0, "rekomendasi": "9", "kegiatan": ["dongeng"], "saran": "Oke"}
    parsed = FeedbackResponseSubmitted.model_validate({"survey": "kepuasan", "answers": answers})
    assert parsed.answers == {"kepuasan": 4, "rekomendasi": "9", "kegiatan": ["dongeng"], "saran": "Oke"}
    assert type(parsed.answers["kepuasan"]) is int
