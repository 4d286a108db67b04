"""The Batcher groups items the way a database groups commits: at once when idle, and what
arrives while a batch is being handled goes in the next one."""

from __future__ import annotations

import asyncio

from siar_runtime.batches import Batcher


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def handle(self, items) -> None:
        self.batches.append(list(items))
        self.entered.set()
        await self.gate.wait()

    async def hold_first(self, batcher: Batcher) -> asyncio.Task[bool]:
        """Submit item 0 and keep its batch running until ``gate`` is set."""
        self.gate.clear()
        first = asyncio.create_task(batcher.submit(0))
        await self.entered.wait()
        return first


async def test_a_lone_item_goes_at_once_without_a_window():
    recorder = Recorder()
    batcher = Batcher(recorder.handle, max_size=50)
    assert await asyncio.wait_for(batcher.submit(1), timeout=1) is True
    assert recorder.batches == [[1]]


async def test_items_of_one_loop_pass_go_together():
    recorder = Recorder()
    batcher = Batcher(recorder.handle, max_size=50)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(5))) == [True] * 5
    assert recorder.batches == [[0, 1, 2, 3, 4]]


async def test_what_arrives_while_a_batch_runs_goes_in_the_next_one():
    recorder = Recorder()
    batcher = Batcher(recorder.handle, max_size=50)
    first = await recorder.hold_first(batcher)
    later = [asyncio.create_task(batcher.submit(i)) for i in range(1, 8)]
    await asyncio.sleep(0.05)
    assert recorder.batches == [[0]]  # held while the first batch is being handled
    recorder.gate.set()
    assert await asyncio.gather(first, *later) == [True] * 8
    assert recorder.batches == [[0], [1, 2, 3, 4, 5, 6, 7]]


async def test_a_full_batch_goes_even_while_another_runs():
    recorder = Recorder()
    batcher = Batcher(recorder.handle, max_size=3)
    first = await recorder.hold_first(batcher)
    full = [asyncio.create_task(batcher.submit(i)) for i in range(1, 4)]
    await asyncio.sleep(0.05)
    assert recorder.batches == [[0], [1, 2, 3]]
    recorder.gate.set()
    assert await asyncio.gather(first, *full) == [True] * 4


async def test_a_failed_batch_tells_each_submitter_to_go_alone():
    async def refuse(items) -> None:
        raise ValueError("cannot store these")

    batcher = Batcher(refuse, max_size=50)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(3))) == [False] * 3


async def test_concurrency_lets_that_many_batches_run_at_once():
    recorder = Recorder()
    batcher = Batcher(recorder.handle, max_size=50, concurrency=2)
    first = await recorder.hold_first(batcher)
    second = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.05)
    third = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0.05)
    assert recorder.batches == [[0], [1]]  # two running; the third waits
    recorder.gate.set()
    assert await asyncio.gather(first, second, third) == [True] * 3
    assert recorder.batches == [[0], [1], [2]]
