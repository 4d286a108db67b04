"""Dead letters: what is waiting in ``siar.<service>.dead``, and sending it back to be handled.

A message lands there either from the consumer (unreadable, unknown type, invalid payload,
refused by its handler: headers ``x-siar-reason`` and ``x-siar-detail``) or from RabbitMQ once
the delivery limit is reached (header ``x-death`` with reason ``delivery_limit``). Replaying
publishes the original body to the queue it died in (through the default exchange, so only that
service sees it again), confirmed, and only then removes it from the dead letters. The publish is
mandatory: a letter whose queue no longer exists comes back from the broker and stays a dead
letter, with the reason, instead of being confirmed and dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from siar_contracts import BINDINGS, dead_queue_name, queue_name

from .bus import resent

_DEAD_HEADERS = ("x-siar-reason", "x-siar-detail", "x-siar-queue", "x-siar-routing-key", "x-siar-dead-at", "x-death")


@dataclass(frozen=True)
class DeadLetter:
    service: str
    message_id: str | None
    routing_key: str
    reason: str
    detail: str
    dead_at: str | None
    origin_queue: str
    body: bytes
    headers: dict[str, Any]

    @property
    def preview(self) -> str:
        text = self.body[:200].decode("utf-8", errors="replace")
        return text + ("…" if len(self.body) > 200 else "")


def describe(service: str, message: AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    reason = _text(headers.get("x-siar-reason"))
    detail = _text(headers.get("x-siar-detail"))
    routing_key = _text(headers.get("x-siar-routing-key"))
    origin = _text(headers.get("x-siar-queue")) or queue_name(service)
    deaths = headers.get("x-death") or []
    if not reason and deaths:
        first = deaths[0]
        reason = _text(first.get("reason"))
        detail = f"dead-lettered by RabbitMQ after {first.get('count', '?')} deliveries"
        routing_key = routing_key or _text((first.get("routing-keys") or [""])[0])
        origin = _text(first.get("queue")) or origin
    dead_at = _text(headers.get("x-siar-dead-at")) or (
        message.timestamp.astimezone(UTC).isoformat() if isinstance(message.timestamp, datetime) else None
    )
    return DeadLetter(
        service=service, message_id=message.message_id, routing_key=routing_key or (message.routing_key or ""),
        reason=reason or "unknown", detail=detail, dead_at=dead_at, origin_queue=origin,
        body=message.body, headers=headers,
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def services() -> tuple[str, ...]:
    return tuple(BINDINGS)


async def peek(connection: aio_pika.abc.AbstractConnection, service: str, limit: int = 100) -> list[DeadLetter]:
    """Read up to ``limit`` dead letters without removing them (they are returned unchanged)."""
    channel = await connection.channel()
    try:
        queue = await channel.get_queue(dead_queue_name(service))
        seen: list[AbstractIncomingMessage] = []
        while len(seen) < limit:
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            seen.append(message)
        letters = [describe(service, m) for m in seen]
    finally:
        # Closing the channel returns every unacknowledged message to the queue, in order.
        await channel.close()
    return letters


@dataclass
class Replayed:
    moved: int = 0
    kept: list[tuple[DeadLetter, str]] = field(default_factory=list)  # (letter, why it could not go)


async def replay(
    connection: aio_pika.abc.AbstractConnection,
    service: str,
    *,
    message_id: str | None = None,
    limit: int | None = None,
) -> Replayed:
    """Send dead letters back to the queue they died in; one (by message id) or all. Those the
    broker cannot route (their queue is gone) stay dead letters, in ``kept``."""
    # on_return_raises: a returned mandatory publish raises instead of counting as confirmed.
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    result = Replayed()
    try:
        dead = await channel.get_queue(dead_queue_name(service))
        # Only the letters there now: one replayed that dies again at once comes back behind
        # them, and taking it again would replay it over and over within one command.
        there = dead.declaration_result.message_count or 0
        taken = 0
        skipped: list[AbstractIncomingMessage] = []
        while (limit is None or result.moved < limit) and taken < there:
            message = await dead.get(no_ack=False, fail=False)
            if message is None:
                break
            taken += 1
            if message_id is not None and message.message_id != message_id:
                skipped.append(message)
                continue
            letter = describe(service, message)
            # The original routing key goes with it (it comes back under its queue's name): should
            # it die again, its letter still names the event (bus.routing_key_of).
            headers = {k: v for k, v in letter.headers.items() if k not in _DEAD_HEADERS}
            headers["x-siar-routing-key"] = letter.routing_key
            headers["x-siar-replayed-at"] = datetime.now(UTC).isoformat()
            headers["x-siar-replayed-reason"] = letter.reason
            try:
                # (aiormq matches a returned message to its publish by message id, and gives one
                # to a message without.)
                await channel.default_exchange.publish(resent(message, headers), routing_key=letter.origin_queue,
                                                       mandatory=True)
            except aio_pika.exceptions.PublishError as exc:
                why = getattr(exc.frame, "reply_text", None) or "returned by the broker"
                result.kept.append((letter, f"{letter.origin_queue}: {why}"))
                skipped.append(message)  # back among the dead letters below
            else:
                await message.ack()
                result.moved += 1
            if message_id is not None:
                break
        for message in skipped:
            await message.nack(requeue=True)
    finally:
        await channel.close()
    return result
