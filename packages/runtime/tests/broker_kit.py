"""What the consumer tests share: post.cancelled events to consume, publishing them through the
events exchange, and waiting for a condition (the ``bus`` fixture is in conftest.py)."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
from siar_contracts import EVENTS_EXCHANGE, PostCancelled, spec_for_model
from siar_runtime.bus import Bus

SPEC = spec_for_model(PostCancelled)


def cancelled(n: int, reason: str = "test"):
    return SPEC.envelope(PostCancelled(post_id=f"p{n}", target_ids=[f"t{n}"], reason=reason),
                         source="/test", correlation_id=f"c{n}")


async def publish(bus: Bus, events) -> None:
    channel = await bus.connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    for e in events:
        await exchange.publish(aio_pika.Message(e.to_json(), message_id=str(uuid.uuid4())), "post.cancelled")
    await channel.close()


async def until(condition, timeout: float = 15) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
