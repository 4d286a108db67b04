"""Stopping a service's parts in order, each within its time limit."""

from __future__ import annotations

import asyncio

from siar_runtime.lifecycle import stop_all


async def test_a_step_may_take_longer_than_the_default_when_it_says_so():
    done: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(0.2)
        done.append("slow")

    async def stuck() -> None:
        await asyncio.sleep(60)
        done.append("stuck")

    async def last() -> None:
        done.append("last")

    # The in-flight work (0.2 s) outlasts the default limit (0.05 s) but not its own (1 s): it
    # finishes instead of being cancelled; a step stuck past its limit is cancelled, the rest run.
    await stop_all([("work in flight", slow, 1.0), ("stuck", stuck), ("last", last)], timeout=0.05)
    assert done == ["slow", "last"]
