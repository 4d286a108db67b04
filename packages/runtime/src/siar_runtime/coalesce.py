"""The broker connection's writes: a batch of publishes goes out in one socket write.

Two things made a pipelined batch cost a socket write and an event-loop pass per message with
stock aio-pika: aiormq's writer queue holds 10 frames (see :func:`connect`), and asyncio sends
whatever it is given at once while the socket's buffer is empty — a ``send`` and a TCP segment
per message, and a read per message on the broker's side. :class:`CoalescingWriter` keeps what is
written during one pass of the event loop and hands it to the transport as one write at the end
of that pass, in order; ``drain``, ``write_eof`` and ``close`` send what is kept first. Nothing
waits longer than the rest of the pass it was written in. Measured in docs/benchmarks.md
("Where the CPU went", item 10).

It reaches aiormq through its ``transport_factory`` (:class:`CoalescingConnection`)."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import aiormq
from aio_pika import RobustConnection
from aio_pika.abc import AbstractRobustConnection
from aiormq.connection import TransportFactory
from aiormq.exceptions import AMQPConnectionError
from yarl import URL

# asyncio.open_connection's default
STREAM_LIMIT = 2**16
# Frames aiormq may queue for its writer: more than a publish_confirmed batch (the outbox relay's
# and the scheduler's dispatch batch are 500 by default).
FRAME_BUFFER = 2048


class CoalescingWriter(asyncio.StreamWriter):
    def __init__(self, transport: asyncio.BaseTransport, protocol: asyncio.BaseProtocol,
                 reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(transport, protocol, reader, loop)
        self._kept: list[bytes] = []
        self.writes = 0
        """Writes handed to the transport (tests compare it with the frames written)."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._kept:
            self._loop.call_soon(self.flush)
        self._kept.append(bytes(data))

    def flush(self) -> None:
        if not self._kept:
            return
        data = self._kept[0] if len(self._kept) == 1 else b"".join(self._kept)
        self._kept.clear()
        self.writes += 1
        super().write(data)

    async def drain(self) -> None:
        self.flush()
        await super().drain()

    def write_eof(self) -> None:
        self.flush()
        super().write_eof()

    def close(self) -> None:
        self.flush()
        super().close()


class CoalescingTransportFactory(TransportFactory):
    """aiormq's TCP and TLS transports, with a :class:`CoalescingWriter`."""

    writer: CoalescingWriter | None = None
    """The latest connection's writer (read by tests)."""

    async def create(self, url: URL, **kwargs: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        provider = kwargs.pop("ssl_context_provider", None)
        ssl = await provider.get_context() if url.scheme == "amqps" and provider is not None else None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            transport, _ = await loop.create_connection(lambda: protocol, url.host, url.port, ssl=ssl, **kwargs)
        except OSError as exc:
            raise AMQPConnectionError(*exc.args) from exc
        self.writer = CoalescingWriter(transport, protocol, reader, loop)
        return reader, self.writer


class CoalescingConnection(RobustConnection):
    """aio-pika's robust connection whose aiormq connections (the first and every reconnect's)
    make their transport with :class:`CoalescingTransportFactory`. aio-pika hands its
    ``kwargs`` to ``aiormq.connect``; what ``connect_robust`` is given goes into the URL's query
    as text, so the factory is set here instead."""

    def __init__(self, url: URL, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any) -> None:
        super().__init__(url, loop, **kwargs)
        self.transport_factory = CoalescingTransportFactory()
        self.kwargs["transport_factory"] = self.transport_factory


async def connect(url: str, **kwargs: Any) -> AbstractRobustConnection:
    """``aio_pika.connect_robust`` with coalesced writes and room for a batch's frames.

    aiormq queues at most ``Connection.FRAME_BUFFER_SIZE`` (10) frames for its writer; a publish
    finding the queue full waits for room while holding its channel's lock, so the rest of a
    pipelined batch passed the lock on one event-loop pass each — a pass, and a socket write,
    per message (and the broker a read per message). With room for a batch the publishes of
    :meth:`Bus.publish_confirmed` all queue in one pass and go out in one write. The size is a
    class attribute read when aiormq makes a connection, and a robust connection makes a new one
    at each reconnect, so it is raised for the process, not restored."""
    aiormq.Connection.FRAME_BUFFER_SIZE = max(aiormq.Connection.FRAME_BUFFER_SIZE, FRAME_BUFFER)
    return await aio_pika.connect_robust(url, connection_class=CoalescingConnection, **kwargs)
