"""RabbitMQ definitions (exchanges, queues, bindings) for deploy/rabbitmq/definitions.json.

They are recorded from :func:`siar_runtime.bus.declare_topology` itself, run against a channel
that only writes down what it is asked to declare, so the file a broker loads at boot can never
drift from what every service declares when it connects::

    python -m siar_runtime.definitions > deploy/rabbitmq/definitions.json

Users and passwords are not in this file (it is committed); compose adds them from secrets.
"""

from __future__ import annotations

import json
from typing import Any

from .bus import declare_topology

VHOST = "/"


class _Exchange:
    def __init__(self, name: str) -> None:
        self.name = name


class _Queue:
    def __init__(self, recorder: _Recorder, name: str) -> None:
        self.recorder = recorder
        self.name = name

    async def bind(self, exchange: _Exchange, routing_key: str) -> None:
        self.recorder.bindings.append(
            {
                "source": exchange.name,
                "vhost": self.recorder.vhost,
                "destination": self.name,
                "destination_type": "queue",
                "routing_key": routing_key,
                "arguments": {},
            }
        )

    async def unbind(self, exchange: _Exchange, routing_key: str) -> None:
        """Removing an old binding at start-up: a broker booted from the file never had it."""


class _Recorder:
    """Stands in for an aio_pika channel and writes every declaration down."""

    def __init__(self, vhost: str) -> None:
        self.vhost = vhost
        self.exchanges: list[dict[str, Any]] = []
        self.queues: list[dict[str, Any]] = []
        self.bindings: list[dict[str, Any]] = []

    async def declare_exchange(self, name: str, type: Any, durable: bool = False, auto_delete: bool = False,
                               internal: bool = False, arguments: dict | None = None) -> _Exchange:
        self.exchanges.append(
            {
                "name": name,
                "vhost": self.vhost,
                "type": getattr(type, "value", type),
                "durable": durable,
                "auto_delete": auto_delete,
                "internal": internal,
                "arguments": dict(arguments or {}),
            }
        )
        return _Exchange(name)

    async def declare_queue(self, name: str, durable: bool = False, exclusive: bool = False,
                            auto_delete: bool = False, arguments: dict | None = None) -> _Queue:
        assert not exclusive, "an exclusive queue cannot be part of the broker's definitions"
        self.queues.append(
            {
                "name": name,
                "vhost": self.vhost,
                "durable": durable,
                "auto_delete": auto_delete,
                "arguments": dict(arguments or {}),
            }
        )
        return _Queue(self, name)


# From RabbitMQ 4.0 every quorum queue without a delivery limit of its own gets 20, and until
# 4.3 a message looked at and put back (``siar dead-letters list``, the management UI's "Get
# messages", a replay passing over other letters) counts as a delivery: a dead letter looked at
# twenty times was dropped. The dead-letter queues keep their letters however often they are read.
DEAD_LETTERS_KEPT = {
    "name": "siar-dead-letters-kept",
    "pattern": r"^siar\.[^.]+\.dead$",
    "apply-to": "queues",
    "priority": 10,
    "definition": {"delivery-limit": -1},
}


def definitions(vhost: str = VHOST) -> dict[str, Any]:
    """What ``declare_topology`` declares, in RabbitMQ's definitions format."""
    recorder = _Recorder(vhost)
    # Nothing in it really waits, so it runs to the end at the first step, in or outside a loop.
    steps = declare_topology(recorder)  # type: ignore[arg-type]
    try:
        steps.send(None)
    except StopIteration:
        pass
    else:
        steps.close()
        raise RuntimeError("declare_topology waited on something other than the channel")
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": recorder.exchanges,
        "queues": recorder.queues,
        "bindings": recorder.bindings,
        "policies": [{"vhost": vhost, **DEAD_LETTERS_KEPT}],
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main() -> None:
    print(render(definitions()), end="")


if __name__ == "__main__":
    main()
