"""The gauges' upkeep loop: woken by every stored batch, refreshed at most once a second."""

from __future__ import annotations

import asyncio

from siar_metrics import upkeep
from siar_metrics.upkeep import Upkeep


class Counted(Upkeep):
    """The loop as it runs, its database queries replaced by a count."""

    def __init__(self, refresh_seconds: float) -> None:
        super().__init__(None, None, refresh_seconds=refresh_seconds, window_days=30, campaign_labels=10,
                         retention_days=0)
        self.refreshed = 0

    async def refresh(self) -> None:
        self.refreshed += 1


async def test_a_flood_of_wakes_refreshes_the_gauges_at_most_once_a_second():
    looping = Counted(refresh_seconds=15)
    looping.start()
    try:
        for _ in range(40):  # a batch stored every 50 ms for two seconds
            looping.wake()
            await asyncio.sleep(0.05)
        assert 2 <= looping.refreshed <= 1 + 2 / upkeep.WOKEN_AT_MOST_EVERY_SECONDS + 1
    finally:
        await looping.stop()


async def test_a_short_refresh_interval_is_kept_and_a_quiet_loop_waits_for_it():
    looping = Counted(refresh_seconds=0.2)
    looping.start()
    try:
        await asyncio.sleep(1.1)
        assert 3 <= looping.refreshed <= 7  # every 0.2 s (6 in 1.1 s), woken or not
    finally:
        await looping.stop()
