"""The group-commit batcher: groups grow while a flush runs, are capped, and every caller hears its result."""

from __future__ import annotations

import asyncio

import pytest

from services.adapters.batching import Batcher


class Store:
    """A flush that records each group it was given and returns only when released."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail_next = False

    async def flush(self, items: list[int]) -> list[int]:
        self.groups.append(items)
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("store away")
        return [item * 10 for item in items]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_items_submitted_while_a_flush_runs_go_together_in_the_next_one() -> None:
    async def scenario() -> None:
        store = Store()
        batcher = Batcher(store.flush, max_size=100, linger=0.001)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.01)  # the linger passed: [1] is being flushed, and is held there
        later = [asyncio.ensure_future(batcher.submit(n)) for n in (2, 3, 4)]
        await asyncio.sleep(0.01)  # well past the linger: still no second flush while one runs
        assert store.groups == [[1]]
        store.release.set()
        assert await first == 10
        assert await asyncio.gather(*later) == [20, 30, 40]
        assert store.groups == [[1], [2, 3, 4]]

    asyncio.run(scenario())


def test_a_full_group_is_flushed_without_waiting_for_the_linger() -> None:
    async def scenario() -> None:
        store = Store()
        store.release.set()
        batcher = Batcher(store.flush, max_size=3, linger=60)
        results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(n) for n in (1, 2, 3))), timeout=1)
        assert results == [10, 20, 30] and store.groups == [[1, 2, 3]]

    asyncio.run(scenario())


def test_what_waited_beyond_the_maximum_goes_in_further_groups() -> None:
    async def scenario() -> None:
        store = Store()
        batcher = Batcher(store.flush, max_size=2, linger=0.001)
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(batcher.submit(n)) for n in range(1, 6)]
        await _settle()
        store.release.set()
        await asyncio.gather(first, *rest)
        assert store.groups == [[0], [1, 2], [3, 4], [5]]

    asyncio.run(scenario())


def test_a_failed_flush_fails_its_own_callers_only() -> None:
    async def scenario() -> None:
        store = Store()
        store.fail_next = True
        batcher = Batcher(store.flush, max_size=100, linger=0.001)
        doomed = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.01)
        fine = asyncio.ensure_future(batcher.submit(2))
        await _settle()
        store.release.set()
        with pytest.raises(RuntimeError, match="store away"):
            await doomed
        assert await fine == 20

    asyncio.run(scenario())


def test_drain_flushes_everything_still_waiting() -> None:
    async def scenario() -> None:
        store = Store()
        batcher = Batcher(store.flush, max_size=2, linger=60)
        pending = [asyncio.ensure_future(batcher.submit(n)) for n in (1, 2, 3)]
        await _settle()
        store.release.set()
        await asyncio.wait_for(batcher.drain(), timeout=1)
        assert all(p.done() for p in pending)
        assert [p.result() for p in pending] == [10, 20, 30]
        assert store.groups == [[1, 2], [3]]

    asyncio.run(scenario())
