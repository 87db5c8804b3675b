"""The heartbeat: this worker is alive, and these are the attempts it holds.

Each beat writes the worker's id, the time and every claim it holds (claiming
or running) to the workers table. The dispatcher's recovery calls an attempt stuck when
its lock is still held but the beat that names it has gone silent; an
orphaned attempt is found by its vanished lock instead. The claim pipeline names a claim in a beat
before appending its `JobStarted`. The periodic tasks (beats, progress) run here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

from services.adapters.locks import Locks
from services.adapters.logging import get_logger
from services.worker.claims import Claims

log = get_logger("batchq.worker")


class Heartbeat:
    def __init__(self, locks: Locks, worker_id: str, claims: Claims, clock: Callable[[], datetime]) -> None:
        self.locks = locks
        self.worker_id = worker_id
        self.claims = claims
        self.clock = clock
        self.tasks: list[asyncio.Task[None]] = []

    async def beat(self) -> None:
        await self.locks.beat(self.worker_id, list(self.claims), self.clock())

    def every(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` every `seconds` until `stop`; a failure is logged and the next one runs."""
        self.tasks.append(asyncio.create_task(self._every(seconds, action)))

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except Exception:
                log.exception("periodic_task_failed", worker_id=self.worker_id)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []
        await self.locks.forget(self.worker_id)
