"""Fixtures of the runtime's tests (test modules with a ``bus`` fixture of their own keep theirs)."""

from __future__ import annotations

import pytest
from siar_contracts import dead_queue_name, queue_name
from siar_runtime.bus import Bus


@pytest.fixture
async def bus(amqp_url):
    """A connected bus; the publisher's queue and its dead letters start empty."""
    bus = Bus(amqp_url, "test")
    await bus.connect()
    channel = await bus.connection.channel()
    for name in (queue_name("publisher"), dead_queue_name("publisher")):
        await (await channel.get_queue(name)).purge()
    await channel.close()
    yield bus
    await bus.close()
