from pathlib import Path

from siar_contracts import EVENTS
from siar_contracts.asyncapi import PRODUCERS, build, render

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
        assert f"{PRODUCERS[spec.name]}.send.{spec.name}" in doc["operations"]
