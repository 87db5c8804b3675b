"""Group commit: many small calls become one store round trip.

`eventsourcing` serialises writers with a table lock, so one save of 100 events
costs about what one save of 1 event does. Callers `await submit(item)` as if
alone; the batcher flushes when `max_size` items wait or `linger` seconds pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self, flush: Callable[[list[T]], Awaitable[list[R]]], *, max_size: int = 100, linger: float = 0.002
    ) -> None:
        self.flush = flush
        self.max_size = max_size
        self.linger = linger
        self.waiting: list[tuple[T, asyncio.Future[R]]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        if len(self.waiting) >= self.max_size:
            self._flush_now()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.linger, self._flush_now)
        return await future

    def _flush_now(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        group, self.waiting = self.waiting, []
        if group:
            task = asyncio.create_task(self._run(group))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _run(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self.flush([item for item, _ in group])
        except BaseException as error:  # every caller hears about the failure
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def drain(self) -> None:
        self._flush_now()
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
