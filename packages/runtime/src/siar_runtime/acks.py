"""Acknowledging a consumer's messages together: one ``basic.ack`` with ``multiple`` for every
message handled since the last one, instead of a frame for each.

For a quorum queue every acknowledgement is a command the queue's Raft log must take: a consumer
draining one cost RabbitMQ 82 µs of CPU a message acknowledging each, 17 µs acknowledging 32 at
a time, and with the services acknowledging this way the broker used a seventh less CPU in a
burst of 20,000 posts and a fifth less at 500 a second (docs/benchmarks.md, "Where the CPU
went", item 8) — CPU the broker needs for the confirms the post.due wait for.

``multiple`` acknowledges *every* outstanding delivery up to a tag on the channel, so it is only
ever sent up to the oldest message that is still being handled: the tags of one channel rise with
each delivery, and what was delivered, acknowledged or returned is tracked by tag. A message
handled after a slower one still in hand (a gap) is acknowledged alone, as before. A message
returned to the queue (``nack``) stays in the way of ``multiple`` until its own frame has been
written, so a later ``multiple`` can never acknowledge it instead. One flush's frames are written
only after the previous flush's, through the channel's one write queue.

A consumer reopened on a new channel (the robust connection reconnecting) starts a new tracker;
the broker has already returned the old channel's unacknowledged messages to the queue."""

from __future__ import annotations

import asyncio
from typing import Any

from aio_pika.abc import AbstractIncomingMessage


class ChannelAcks:
    """The acknowledgements of one channel's deliveries."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self._outstanding: dict[int, None] = {}  # delivered, not yet settled; in tag order
        self._handled: dict[int, tuple[AbstractIncomingMessage, asyncio.Future[None]]] = {}
        self._flush_scheduled = False
        self._sending: asyncio.Task[None] | None = None  # the last flush's frames being written
        self.frames_sent = 0  # ack frames written (tests read it)

    def delivered(self, message: AbstractIncomingMessage) -> None:
        self._outstanding[message.delivery_tag] = None

    async def ack(self, message: AbstractIncomingMessage) -> None:
        """Acknowledge once the frame that covers this message has been written."""
        tag = message.delivery_tag
        if tag not in self._outstanding:  # settled already: aio-pika refuses the second time
            await message.ack()
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handled[tag] = (message, done)
        if not self._flush_scheduled:
            # At the end of the loop's current pass: the messages of one batch resume together.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        await done

    async def nack(self, message: AbstractIncomingMessage) -> None:
        """Return the message to the queue; it leaves the tracker only once that frame is out."""
        try:
            await message.nack(requeue=True)
        finally:
            self._outstanding.pop(message.delivery_tag, None)
            if self._handled and not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        covered: list[tuple[AbstractIncomingMessage, asyncio.Future[None]]] = []
        for tag in self._outstanding:
            handled = self._handled.get(tag)
            if handled is None:
                break
            covered.append(handled)
        for message, _ in covered:
            del self._outstanding[message.delivery_tag]
            del self._handled[message.delivery_tag]
        alone = list(self._handled.values())  # behind a message still being handled
        for message, _ in alone:
            del self._outstanding[message.delivery_tag]
        self._handled.clear()
        if covered or alone:
            self._sending = asyncio.get_running_loop().create_task(self._send(self._sending, covered, alone))

    async def _send(self, previous: asyncio.Task[None] | None,
                    covered: list[tuple[AbstractIncomingMessage, asyncio.Future[None]]],
                    alone: list[tuple[AbstractIncomingMessage, asyncio.Future[None]]]) -> None:
        if previous is not None:
            # One flush's frames after the other's: a later ``multiple`` may cover a tag an earlier
            # flush acknowledges alone, and written first it would make that one a second
            # acknowledgement of the tag, which closes the channel.
            await asyncio.wait([previous])
        if covered:
            last, _ = covered[-1]
            await _settle(covered, last.ack(multiple=len(covered) > 1))
            self.frames_sent += 1
        for message, done in alone:
            await _settle([(message, done)], message.ack())
            self.frames_sent += 1


async def _settle(waiting: list[tuple[AbstractIncomingMessage, asyncio.Future[None]]], frame: Any) -> None:
    try:
        await frame
    except BaseException as exc:  # the channel closed: the broker returns the messages itself
        for _, done in waiting:
            if not done.done():
                done.set_exception(exc)
        return
    for _, done in waiting:
        if not done.done():
            done.set_result(None)


class Acks:
    """A consumer's acknowledgements: a tracker for the channel its deliveries now come on."""

    def __init__(self) -> None:
        self.current: ChannelAcks | None = None

    def delivered(self, message: AbstractIncomingMessage) -> ChannelAcks:
        """Track a message just delivered; returns the tracker that settles it (its channel's,
        even if the connection reopens the channel meanwhile: settling then fails, as it must)."""
        channel = message.channel  # open: the message has just arrived on it
        if self.current is None or self.current.channel is not channel:
            self.current = ChannelAcks(channel)
        self.current.delivered(message)
        return self.current
