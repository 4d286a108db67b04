"""Consuming a service's queue: decode, deduplicate, dispatch to a plain async handler, and
acknowledge only after the handler's effects are committed.

What cannot be handled is never dropped silently:
- a body that is not a CloudEvent, an event type Siar does not know, or a payload that does not
  match its schema goes to the dead letters at once, with the reason in its headers;
- a handler raising :class:`Rejected` sends the message there too, with the handler's reason;
- any other exception is taken as transient (database restarting, broker blip): the message is
  returned to the queue after a short pause, and RabbitMQ dead-letters it once the quorum queue's
  delivery limit is reached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError
from siar_contracts import EVENTS, CloudEvent, EnvelopeError, queue_name, spec_for_type

from .acks import Acks, ChannelAcks
from .batches import Batcher, BatchHandler
from .bus import Bus, routing_key_of
from .logging import bind_message, describe
from .metrics import ChassisMetrics

log = structlog.get_logger("siar.consumer")

Handler = Callable[[CloudEvent, Any], Awaitable[None]]


class Rejected(Exception):
    """Raised by a handler for a message that can never succeed; it goes to the dead letters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Consumer:
    def __init__(
        self,
        bus: Bus,
        queue: str,
        handlers: Mapping[str, Handler],
        metrics: ChassisMetrics,
        *,
        prefetch: int = 64,
        retry_pause: float = 1.0,
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        batch_linger: float = 0.0,
    ) -> None:
        """``queue``: the queue's key in ``siar_contracts.BINDINGS`` (the service's name for its
        own queue). ``batch_handlers`` (event type → batch handler) are tried first for their
        types: the messages that arrive while a batch is being handled (up to ``prefetch``) go
        together in one call, and are acknowledged after it returned; with none running a message
        goes at once (:class:`Batcher`; ``batch_linger`` > 0 holds each batch that long instead).
        A type with a batch handler keeps its single handler in ``handlers`` too: a failed batch
        falls back to it, message by message, so a poison message is still dead-lettered (or
        retried) on its own."""
        self.bus = bus
        self.queue_name = queue_name(queue)
        self.handlers = dict(handlers)
        self.batchers = {
            event_type: Batcher(handle, max_size=prefetch, linger=batch_linger, name=event_type)
            for event_type, handle in (batch_handlers or {}).items()
        }
        missing = set(self.batchers) - set(self.handlers)
        if missing:
            raise ValueError(f"batch handlers need a single handler to fall back on: {sorted(missing)}")
        self.metrics = metrics
        self.prefetch = prefetch
        self.retry_pause = retry_pause
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._acks = Acks()  # a batch's messages are acknowledged with one frame
        self._handling = 0  # messages between delivery and their ack (or nack)
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        assert self.bus.connection is not None
        channel = await self.bus.connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        self._queue = await channel.get_queue(self.queue_name)
        self._tag = await self._queue.consume(self.on_message)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking messages and let the ones being handled finish (up to ``grace`` seconds),
        including a failed batch's messages handled one by one, before the service closes its
        database and broker connections. One still running after that returns to the queue when
        the channel closes, and is handled again — at most once, thanks to the inbox."""
        if self._queue is not None and self._tag is not None:
            try:
                await self._queue.cancel(self._tag)
            except Exception:  # the channel may already be gone at shutdown
                pass
        for batcher in self.batchers.values():
            await batcher.drain()
        if self._handling:
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                log.warning("stopping while messages are still being handled; they return to the queue",
                            queue=self.queue_name, handling=self._handling, grace_seconds=grace)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self._handling += 1
        self._idle.clear()
        acks = self._acks.delivered(message)
        try:
            await self._on_message(message, acks)
        finally:
            self._handling -= 1
            if not self._handling:
                self._idle.set()

    async def _on_message(self, message: AbstractIncomingMessage, acks: ChannelAcks) -> None:
        started = time.perf_counter()
        name = message.routing_key or "?"
        try:
            event = CloudEvent.from_json(message.body)
        except EnvelopeError as exc:
            await self._dead(message, acks, name, "malformed", str(exc))
            return
        spec = spec_for_type(event.type)
        if spec is None:
            await self._dead(message, acks, name, "unknown_type", f"unknown event type {event.type!r}")
            return
        name = spec.name
        handler = self.handlers.get(event.type)
        routed = routing_key_of(message) if handler is None else spec.name
        if routed and routed != spec.name:
            # Published under another event's routing key (a sender that mixed up the type or
            # the key): not a version this service may skip, a mistake to show, not to drop.
            await self._dead(message, acks, name, "unexpected_type",
                             f"{event.type} arrived under the routing key {routed!r}, which is {spec.name!r}'s own")
            return
        if handler is None:
            # A Siar event this service is not interested in (say, a newer version emitted
            # beside the one it handles): acknowledged and counted, not an error.
            await acks.ack(message)
            self.metrics.events_consumed.labels(name, "ignored").inc()
            return
        try:
            payload = spec.parse(event)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "data"
            await self._dead(message, acks, name, "invalid_payload", f"{event.type}: data.{where}: {first['msg']}")
            return
        bind_message(
            event_id=event.id,
            event_type=event.type,
            correlation_id=event.correlationid,
            post_id=event.data.get("post_id"),
            target_id=event.data.get("target_id"),
        )
        batcher = self.batchers.get(event.type)
        try:
            if batcher is None or not await batcher.submit((event, payload)):
                await handler(event, payload)
        except Rejected as exc:
            await self._dead(message, acks, name, exc.reason, exc.detail)
            return
        except Exception as exc:
            log.exception("handler failed; message returns to the queue", error=describe(exc),
                          redelivered=message.redelivered)
            self.metrics.events_consumed.labels(name, "retry").inc()
            await asyncio.sleep(self.retry_pause)
            await acks.nack(message)
            return
        await acks.ack(message)
        elapsed = time.perf_counter() - started
        self.metrics.events_consumed.labels(name, "ok").inc()
        self.metrics.handle_seconds.labels(name).observe(elapsed)
        log.info("handled", routing_key=name, outcome="ok", ms=round(elapsed * 1000, 2))

    async def _dead(self, message: AbstractIncomingMessage, acks: ChannelAcks, name: str, reason: str,
                    detail: str) -> None:
        log.warning("dead-lettering message", reason=reason, detail=detail,
                    message_id=message.message_id, routing_key=message.routing_key)
        try:
            await self.bus.dead_letter(message, self.queue_name, reason, detail)
        except Exception as exc:
            log.error("could not dead-letter; message returns to the queue", error=describe(exc))
            await asyncio.sleep(self.retry_pause)
            await acks.nack(message)
            return
        await acks.ack(message)
        self.metrics.dead_letters.labels(reason).inc()
        self.metrics.events_consumed.labels(name if name in _KNOWN else "unknown", "dead").inc()


_KNOWN = frozenset(spec.name for spec in EVENTS)
