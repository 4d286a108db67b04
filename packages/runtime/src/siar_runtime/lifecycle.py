"""Stopping a service's parts in order, each with a time limit, so shutdown never hangs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from .logging import describe

log = structlog.get_logger("siar.lifecycle")


async def stop_all(steps: list[tuple[str, Callable[[], Awaitable[object]]]], timeout: float = 5.0) -> None:
    for name, step in steps:
        try:
            await asyncio.wait_for(step(), timeout)
        except TimeoutError:
            log.warning("shutdown step timed out", step=name, timeout=timeout)
        except Exception as exc:  # keep stopping the rest
            log.warning("shutdown step failed", step=name, error=describe(exc))
