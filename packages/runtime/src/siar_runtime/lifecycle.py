"""Stopping a service's parts in order, each with a time limit, so shutdown never hangs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from .logging import describe

log = structlog.get_logger("siar.lifecycle")


Step = tuple[str, Callable[[], Awaitable[object]]] | tuple[str, Callable[[], Awaitable[object]], float]


async def stop_all(steps: list[Step], timeout: float = 5.0) -> None:
    """Each step in turn, each given ``timeout`` seconds unless it names its own (a step that
    waits for work in flight — a platform call of up to its HTTP timeout — needs longer)."""
    for name, step, *own in steps:
        limit = own[0] if own else timeout
        try:
            await asyncio.wait_for(step(), limit)
        except TimeoutError:
            log.warning("shutdown step timed out", step=name, timeout=limit)
        except Exception as exc:  # keep stopping the rest
            log.warning("shutdown step failed", step=name, error=describe(exc))
