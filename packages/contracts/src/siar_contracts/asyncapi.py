"""The event catalogue as an AsyncAPI 3.0 document, generated from the contracts themselves.

``python -m siar_contracts.asyncapi > docs/asyncapi.json`` writes it; a test fails when the
committed document and the code disagree."""

from __future__ import annotations

import json
import sys
from typing import Any

from .envelope import CONTENT_TYPE, CloudEvent
from .events import EVENTS
from .names import (
    BINDINGS,
    DEAD_EXCHANGE,
    DELIVERY_LIMIT,
    EVENTS_EXCHANGE,
    consuming_service,
    queue_name,
)

PRODUCERS: dict[str, str | tuple[str, ...]] = {
    "post.scheduled": "scheduler",
    "post.updated": "scheduler",
    "post.cancelled": "scheduler",
    "post.due": "scheduler",
    "post.published": "publisher",
    "post.failed": ("publisher", "scheduler"),  # the scheduler's: not approved by its time
    "post.retrying": "publisher",
    "post.at_risk": "scheduler",
    "account.registered": "publisher",
    "account.updated": "publisher",
    "account.needs_reconnect": "publisher",
    "insights.requested": "metrics",
    "insights.collected": "publisher",
    "insights.failed": "publisher",
    "engagement.sampled": "metrics",
    "audience.sampled": "metrics",
    "survey.opened": "feedback",
    "survey.closed": "feedback",
    "feedback.response.received": "feedback",
    "feedback.response.submitted": "chatbot",
}


def producers_of(name: str) -> tuple[str, ...]:
    """Who emits the event ``name`` (post.failed: the publisher, and the scheduler for a post not
    approved by its time)."""
    producers = PRODUCERS[name]
    return (producers,) if isinstance(producers, str) else producers


def _message_name(name: str, version: int) -> str:
    return "".join(part.capitalize() for part in name.replace("_", ".").split(".")) + f"V{version}"


def build() -> dict[str, Any]:
    envelope = CloudEvent.model_json_schema()
    envelope["properties"].pop("data", None)
    # Defaults fill them in the events Siar makes; every message carries them, and one received
    # without them is dead-lettered (CloudEvent.from_json).
    envelope["required"] = sorted({*envelope.get("required", []), "id", "specversion"})
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    components: dict[str, Any] = {"messages": {}, "schemas": {"CloudEvent": envelope}}
    for spec in EVENTS:
        message = _message_name(spec.name, spec.version)
        data_schema = spec.model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in data_schema.pop("$defs", {}).items():
            components["schemas"][def_name] = definition
        components["schemas"][spec.model.__name__] = data_schema
        components["messages"][message] = {
            "name": spec.type,
            "title": spec.name,
            "summary": spec.summary,
            "contentType": CONTENT_TYPE,
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/CloudEvent"},
                    {
                        "type": "object",
                        "required": ["type", "data"],
                        "properties": {
                            "type": {"const": spec.type},
                            "data": {"$ref": f"#/components/schemas/{spec.model.__name__}"},
                        },
                    },
                ]
            },
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
        }
        channel = spec.name
        channels.setdefault(channel, {
            "address": spec.name,
            "description": f"Routing key {spec.name!r} on the topic exchange {EVENTS_EXCHANGE!r}.",
            "messages": {},
            "bindings": {"amqp": {"is": "routingKey", "exchange": {
                "name": EVENTS_EXCHANGE, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": "0.3.0"}},
        })
        channels[channel]["messages"][message] = {"$ref": f"#/components/messages/{message}"}
        for producer in producers_of(spec.name):
            operations[f"{producer}.send.{spec.name}"] = {
                "action": "send",
                "summary": f"The {producer} emits {spec.name}.",
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
            }
        for queue, keys in BINDINGS.items():
            if spec.name in keys:
                service = consuming_service(queue)
                operations[f"{service}.receive.{spec.name}"] = {
                    "action": "receive",
                    "summary": (
                        f"The {service} consumes {spec.name} from its quorum queue {queue_name(queue)!r} "
                        f"(dead letters to {DEAD_EXCHANGE!r} after {DELIVERY_LIMIT} deliveries)."
                    ),
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
                    "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Siar events",
            "version": "1.0.0",
            "description": (
                "Every Siar domain event is a CloudEvents 1.0 message in structured JSON mode on the "
                f"durable topic exchange {EVENTS_EXCHANGE!r}, with the event's short name as routing key. "
                "Bind a queue of your own to the keys you need. `source` + `id` is unique: deduplicate on it. "
                "`correlationid` follows one post through every service. A breaking change is a new "
                "`type` version, emitted beside the old one for a while. Events of one post or survey are "
                "not guaranteed to arrive in the order they happened: post.due goes to the broker from the "
                "claim itself, so for a post due at once it can overtake its post.scheduled (which, like "
                "most events, goes through its service's outbox; engagement.sampled and audience.sampled "
                "are published from the metrics service's stored readings); key on the ids and take an event "
                "about something not seen yet as its first news. An event that arrives twice has the same "
                "`id`."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "rabbitmq": {"host": "rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0.9.1"},
        },
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": components,
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
