from pathlib import Path

from siar_contracts import EVENTS
from siar_contracts.asyncapi import PRODUCERS, build, producers_of, render

DOC = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


def test_the_committed_asyncapi_document_matches_the_code():
    assert DOC.read_text() == render(), (
        "docs/asyncapi.json is stale: run `uv run python -m siar_contracts.asyncapi > docs/asyncapi.json`"
    )


def test_every_event_has_a_producer_and_a_message():
    doc = build()
    assert set(PRODUCERS) == {spec.name for spec in EVENTS}
    for spec in EVENTS:
        assert spec.name in doc["channels"]
        for producer in producers_of(spec.name):
            assert f"{producer}.send.{spec.name}" in doc["operations"]
    # The scheduler's own post.failed (not approved by its time) is in the document too.
    assert {"publisher.send.post.failed", "scheduler.send.post.failed"} <= set(doc["operations"])
    # CloudEvents 1.0 requires both; Siar's producers fill them by default, receivers require them.
    assert {"id", "specversion"} <= set(doc["components"]["schemas"]["CloudEvent"]["required"])
