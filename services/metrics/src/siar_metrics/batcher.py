"""Gathering messages that are handled one at a time into batches that are stored together.

The consumer hands each message to its handler concurrently (up to the prefetch count); a
handler that calls :meth:`Batcher.submit` waits until the batch holding its item is committed,
so each message is still acknowledged only after its effect is durable. A batch is stored when
it is full or ``linger`` seconds after its first item; up to ``concurrency`` batches are stored at
once (their rows are locked in one order, so they never deadlock). When a batch fails, its items are stored
one by one, so one message that can never be stored does not hold back the others: only its own
handler sees the error (and its message goes back to the queue, and in the end to the dead
letters)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog
from siar_runtime.logging import describe

T = TypeVar("T")
log = structlog.get_logger("siar.metrics.batcher")


class Batcher(Generic[T]):
    def __init__(self, store: Callable[[list[T]], Awaitable[object]], *, max_size: int, linger: float,
                 concurrency: int = 1) -> None:
        self.store = store
        self.max_size = max_size
        self.linger = linger
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)  # batches stored at once, each on its own connection

    async def submit(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self.max_size:
            self._flush_now()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger, self._flush_now)
        await future

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.create_task(self._store(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _store(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        async with self._slots:
            try:
                await self.store([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch, exc)
                    return
                log.warning("a batch could not be stored; storing its items one by one", size=len(batch), error=describe(exc))
                for one in batch:
                    try:
                        await self.store([one[0]])
                    except Exception as single:
                        _settle([one], single)
                    else:
                        _settle([one], None)
            else:
                _settle(batch, None)

    async def drain(self) -> None:
        """Store what is waiting and wait for batches in progress (at shutdown)."""
        self._flush_now()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _settle(batch: list[tuple[object, asyncio.Future[None]]], error: BaseException | None) -> None:
    for _, future in batch:
        if future.done():  # its handler was cancelled meanwhile
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
