"""deploy/rabbitmq/definitions.json is exactly what every service declares when it connects."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from urllib.parse import unquote, urlsplit

import pytest
from siar_contracts import BINDINGS, DELIVERY_LIMIT, dead_queue_name, queue_name
from siar_runtime.bus import Bus
from siar_runtime.definitions import definitions, render

from .inventory import DEPLOY

COMMITTED = DEPLOY / "rabbitmq" / "definitions.json"


def test_the_committed_definitions_are_generated_from_the_code():
    assert COMMITTED.read_text() == render(definitions()), (
        "deploy/rabbitmq/definitions.json is stale: "
        "run `uv run python -m siar_runtime.definitions > deploy/rabbitmq/definitions.json`"
    )


def test_every_service_queue_is_a_quorum_queue_with_a_dead_letter_queue_and_a_delivery_limit():
    queues = {q["name"]: q for q in json.loads(COMMITTED.read_text())["queues"]}
    for service in BINDINGS:
        assert queues[queue_name(service)]["arguments"] == {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "siar.dead",
            "x-dead-letter-routing-key": queue_name(service),
            "x-delivery-limit": DELIVERY_LIMIT,
        }
        assert queues[dead_queue_name(service)]["arguments"] == {"x-queue-type": "quorum"}
    assert all(q["durable"] and not q["auto_delete"] for q in queues.values())


def test_dead_letters_are_kept_however_often_they_are_looked_at():
    # RabbitMQ 4.x gives a quorum queue without a limit of its own 20 deliveries, and counts a
    # letter looked at and put back as one: the policy lifts the limit on the dead-letter queues
    # alone (the service queues keep theirs, which sends poison messages to the dead letters).
    import re

    document = json.loads(COMMITTED.read_text())
    [policy] = document["policies"]
    assert policy["definition"] == {"delivery-limit": -1} and policy["apply-to"] == "queues"
    kept = {q["name"] for q in document["queues"] if re.search(policy["pattern"], q["name"])}
    assert kept == {dead_queue_name(service) for service in BINDINGS}


async def test_a_broker_given_the_definitions_holds_what_declare_topology_declares(amqp_url):
    """Declare the topology on the real broker (this session's vhost), export it with
    rabbitmqctl, and compare with the committed file: names, arguments, bindings."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed here")
    vhost = unquote(urlsplit(amqp_url).path[1:]) or "/"
    bus = Bus(amqp_url, "definitions-test")
    await bus.connect()
    await bus.close()
    exported = await asyncio.to_thread(
        subprocess.run, ["rabbitmqctl", "-q", "export_definitions", "-", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    broker = json.loads(exported.stdout)
    committed = json.loads(COMMITTED.read_text())

    def ours(items, *keys):
        return sorted(
            (tuple(json.dumps(item[k], sort_keys=True) for k in keys) for item in items
             if item["vhost"] == vhost and str(item.get("name", item.get("source", ""))).startswith("siar.")),
        )

    for kind, keys in (
        ("exchanges", ("name", "type", "durable", "auto_delete", "arguments")),
        ("queues", ("name", "durable", "auto_delete", "arguments")),
        ("bindings", ("source", "destination", "destination_type", "routing_key", "arguments")),
    ):
        want = ours([item | {"vhost": vhost} for item in committed[kind]], *keys)
        assert ours(broker[kind], *keys) == want, kind
