"""Handling many messages of one event type together: one transaction for the lot instead of one
per message, the way a burst of post.due or post.published is cheapest to absorb.

A :class:`Batcher` gathers the items that concurrent tasks submit — (event, payload) pairs of
consumed messages, a publisher's delivery outcomes — and hands them to a batch handler the way a
database groups commits: while fewer than ``concurrency`` batches are being handled, what has
arrived goes at once (at the end of the event loop's current pass, so that the messages of one
network read go together); otherwise it waits for a running batch to finish, or until
``max_size`` are waiting. An idle service so handles a lone message without delay, and a busy one
in batches as large as the load makes them, instead of in many small ones each with its own
round trips (bench/burst.py measured post.due batches of 4 on average, six at once, with a fixed
5 ms window). ``linger`` > 0 instead holds every batch that long after its first item (tests use
it to force a batch). Each submitter learns whether its
item was handled: ``True`` once the batch committed (a consumer then acknowledges its own
message), ``False`` when the batch handler raised — the caller then handles its item alone, so
one poison message costs its batch the fast path, never its neighbours' delivery."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog
from siar_contracts import CloudEvent

from .logging import describe

log = structlog.get_logger("siar.batches")

T = TypeVar("T")

BatchHandler = Callable[[Sequence[tuple[CloudEvent, Any]]], Awaitable[None]]
"""Handles every (event, payload) pair in one transaction, idempotent on each event id; raises
if any of them cannot be handled (the consumer then handles them one by one)."""


class Batcher(Generic[T]):
    def __init__(self, handle: Callable[[Sequence[T]], Awaitable[None]], *, max_size: int, linger: float = 0.0,
                 concurrency: int = 1, name: str = "") -> None:
        self.handle = handle
        self.max_size = max(1, max_size)
        self.linger = linger
        self.concurrency = max(1, concurrency)
        self.name = name
        self._items: list[T] = []
        self._waiting: list[asyncio.Future[bool]] = []
        self._timer: asyncio.Handle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> bool:
        """Wait for the batch holding this item; True when it was handled and committed."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._waiting.append(done)
        if len(self._items) >= self.max_size:
            self._flush()
        elif self._timer is None:
            if self.linger > 0:
                self._timer = asyncio.get_running_loop().call_later(self.linger, self._flush)
            elif len(self._running) < self.concurrency:
                self._timer = asyncio.get_running_loop().call_soon(self._flush)
            # else: the next batch to finish takes these (_finished)
        return await asyncio.shield(done)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._items:
            return
        items, waiting = self._items, self._waiting
        self._items, self._waiting = [], []
        # A context of its own: the batch's logs must not carry the first submitter's message ids.
        task = asyncio.create_task(self._run(items, waiting), name=f"batch-{self.name}", context=contextvars.Context())
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._items and self._timer is None and len(self._running) < self.concurrency:
            self._flush()

    async def _run(self, items: list[T], waiting: list[asyncio.Future[bool]]) -> None:
        try:
            await self.handle(items)
            handled = True
        except Exception as exc:
            log.warning("batch failed; its messages are handled one by one", batch=self.name,
                        size=len(items), error=describe(exc))
            handled = False
        for done in waiting:
            if not done.done():
                done.set_result(handled)

    async def drain(self) -> None:
        """Finish the batches in progress (at shutdown, before the connections close)."""
        self._flush()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
