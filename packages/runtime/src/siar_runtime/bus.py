"""The RabbitMQ edge: one robust connection per service, the topology, confirmed publishing.

Every service declares the whole Siar topology at start-up (exchanges, each service's quorum
queue with its dead-letter exchange and delivery limit, each service's dead-letter queue). The
declarations are idempotent, so start order never matters and no event is dropped for want of a
queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from siar_contracts import (
    BINDINGS,
    CONTENT_TYPE,
    DEAD_EXCHANGE,
    DELIVERY_LIMIT,
    EVENTS_EXCHANGE,
    RETIRED_BINDINGS,
    CloudEvent,
    dead_queue_name,
    queue_name,
)

from . import coalesce
from .logging import describe

log = structlog.get_logger("siar.bus")


def queue_arguments(queue: str) -> dict[str, object]:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DEAD_EXCHANGE,
        "x-dead-letter-routing-key": queue_name(queue),
        "x-delivery-limit": DELIVERY_LIMIT,
    }


async def declare_topology(channel: AbstractChannel) -> None:
    events = await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    dead = await channel.declare_exchange(DEAD_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    for key_of_queue, keys in BINDINGS.items():
        queue = await channel.declare_queue(
            queue_name(key_of_queue), durable=True, arguments=queue_arguments(key_of_queue)
        )
        for key in keys:
            await queue.bind(events, routing_key=key)
        for key in RETIRED_BINDINGS.get(key_of_queue, ()):
            await queue.unbind(events, routing_key=key)  # a no-op where there is no such binding
        await declare_dead_queue(channel, dead, key_of_queue)


async def declare_dead_queue(channel: AbstractChannel, dead: AbstractExchange, key_of_queue: str) -> None:
    """A queue's dead-letter queue, bound to ``siar.dead`` under the queue's own name."""
    dlq = await channel.declare_queue(dead_queue_name(key_of_queue), durable=True, arguments={"x-queue-type": "quorum"})
    await dlq.bind(dead, routing_key=queue_name(key_of_queue))


def routing_key_of(message: aio_pika.abc.AbstractIncomingMessage) -> str:
    """The event's own routing key. A replayed dead letter comes through the default exchange,
    under its queue's name, and carries the original in ``x-siar-routing-key``."""
    if not message.exchange:
        kept = (message.headers or {}).get("x-siar-routing-key")
        if isinstance(kept, bytes):
            kept = kept.decode("utf-8", "replace")
        if kept:
            return str(kept)
    return message.routing_key or ""


@dataclass(frozen=True)
class Outgoing:
    """One message to publish: already-serialised CloudEvent JSON and its routing key."""

    routing_key: str
    body: bytes
    event_id: str
    event_type: str
    correlation_id: str
    headers: dict[str, object] = field(default_factory=dict)


def outgoing(event: CloudEvent) -> Outgoing:
    return Outgoing(routing_key=event.short_name, body=event.to_json(), event_id=event.id,
                    event_type=event.type, correlation_id=event.correlationid)


def properties(out: Outgoing) -> aiormq.spec.Basic.Properties:
    """The AMQP properties of an outgoing event, built directly (no ``aio_pika.Message``): the
    relay's hot path publishes through aiormq."""
    return aiormq.spec.Basic.Properties(
        content_type=CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT.value,
        message_id=out.event_id,
        correlation_id=out.correlation_id,
        message_type=out.event_type,
        timestamp=datetime.now(UTC),
        headers=out.headers or None,
    )


def resent(message: aio_pika.abc.AbstractIncomingMessage, headers: dict, **properties) -> aio_pika.Message:
    """A persistent copy of a received message — body, ids, content type and type kept — with
    these headers: what goes to the dead letters, and back from them."""
    return aio_pika.Message(
        message.body,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        headers=headers,
        **properties,
    )


class Bus:
    def __init__(self, url: str, service: str) -> None:
        self.url = url
        self.service = service
        self.connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._events: AbstractExchange | None = None
        self._dead: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def connect(self, *, attempts: int = 30) -> None:
        for attempt in range(1, attempts + 1):
            try:
                self.connection = await coalesce.connect(
                    self.url, client_properties={"connection_name": f"siar-{self.service}"}
                )
                break
            except (OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
                if attempt == attempts:
                    raise
                log.warning("broker not reachable yet", attempt=attempt, error=describe(exc))
                await asyncio.sleep(min(2.0, 0.2 * attempt))
        assert self.connection is not None
        # on_return_raises: a returned mandatory publish (only dead letters are mandatory; an
        # event nobody is bound to is legitimately unroutable) raises instead of counting as
        # confirmed.
        self._channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_topology(self._channel)
        self._events = await self._channel.get_exchange(EVENTS_EXCHANGE)
        self._dead = await self._channel.get_exchange(DEAD_EXCHANGE)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    @property
    def ready(self) -> bool:
        return (
            self.connection is not None
            and not self.connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def _restored(self, timeout: float) -> None:
        """After a reconnect or a channel error the robust channel declares again what it had
        declared — exchanges first, then the queues and their bindings. Its underlay channel
        takes publishes before the bindings are back, and a message published then is confirmed
        and dropped as unroutable; every publish waits until the whole topology is restored."""
        assert self._channel is not None
        async with asyncio.timeout(timeout):
            await self._channel.ready()

    async def publish_confirmed(
        self, batch: Sequence[Outgoing], *, timeout: float = 10, on_sent: Callable[[], None] | None = None,
        exchange: str = EVENTS_EXCHANGE,
    ) -> None:
        """Publish every message and return only once the broker confirmed all of them.

        Messages are pipelined on one confirm channel: each is handed to the connection's writer
        without waiting for the socket to drain (aio-pika's ``Exchange.publish`` waits for that,
        which costs several event-loop turns per message), and only the confirms are awaited.
        ``on_sent`` is called once every message is queued for the wire, in order, so a caller
        may start the next batch behind this one. Any nack, timeout or lost connection raises,
        and the caller keeps the batch to try again."""
        if not batch:
            if on_sent is not None:
                on_sent()
            return
        if self._channel is None:
            raise ConnectionError("not connected to the broker")
        await self._restored(timeout)
        channel = await self._channel.get_underlay_channel()
        # Tasks start in creation order and the channel lock is FIFO, so the broker receives the
        # messages in batch order, and before any batch published after on_sent().
        confirms = [
            asyncio.ensure_future(channel.basic_publish(
                out.body, exchange=exchange, routing_key=out.routing_key, properties=properties(out),
                timeout=timeout, wait=False,
            ))
            for out in batch
        ]
        if on_sent is not None:
            on_sent()
        results = await asyncio.gather(*confirms, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def dead_letter(self, message: aio_pika.abc.AbstractIncomingMessage, queue: str,
                          reason: str, detail: str) -> None:
        """Send a message to ``siar.dead`` with the reason beside it, confirmed and routed.

        The publish is mandatory: should the queue's dead-letter queue be gone (deleted by hand
        while the service runs; the robust channel declares it again only on a reconnect), the
        broker returns the letter instead of confirming and dropping it. It is then declared and
        bound again and the letter sent once more; if that too comes back, this raises and the
        caller keeps the message in its queue."""
        if self._dead is None or self._channel is None:
            raise ConnectionError("not connected to the broker")
        headers = dict(message.headers or {})
        headers.update(
            {
                "x-siar-reason": reason,
                "x-siar-detail": detail[:2000],
                "x-siar-queue": queue,
                "x-siar-routing-key": routing_key_of(message),
                "x-siar-dead-at": datetime.now(UTC).isoformat(),
            }
        )
        dead = resent(message, headers, timestamp=datetime.now(UTC))
        async with self._lock:
            await self._restored(10)
            try:
                await self._dead.publish(dead, queue, mandatory=True, timeout=10)
            except aio_pika.exceptions.PublishError as exc:
                log.warning("dead-letter queue missing; declaring it again", queue=queue,
                            broker=getattr(exc.frame, "reply_text", None))
                await declare_dead_queue(self._channel, self._dead, queue.removeprefix(queue_name("")))
                await self._dead.publish(dead, queue, mandatory=True, timeout=10)
