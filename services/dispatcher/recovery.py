"""Finding orphaned and stuck jobs (QUEUE-006) from worker heartbeats and advisory locks.

Orphaned: the store says PROCESSING but no connection holds the attempt's lock,
so its worker died. Stuck: the lock is held (the worker's connection lives) but
the worker has not beaten for `stuck_after_seconds`. Either way the attempt is
fenced off in the store, so a late result from it is refused, and re-run. The
same scan sends again a job dispatched but never started (`redispatch.py`).

An attempt counts as orphaned only when two scans in a row find it so: a worker
that records an outcome and releases its lock between our load and our lock check
looks orphaned once, never twice (its job is no longer PROCESSING).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts import names
from services.adapters.locks import Locks, silent_for
from services.adapters.logging import get_logger
from services.adapters.settings import Settings
from services.dispatcher.application import Dispatcher, Effects
from services.dispatcher.redispatch import Redispatch

log = get_logger("batchq.dispatcher")

FORGET_AFTER_SECONDS = 300.0
BROKER_TIMEOUT_SECONDS = 5.0


class WorkerScan:
    def __init__(
        self,
        app: Dispatcher,
        locks: Locks,
        call: Callable[..., Awaitable[Any]],
        settings: Settings,
        waiting: Callable[[str], Awaitable[int]],
    ) -> None:
        self.app = app
        self.waiting = waiting  # messages ready in a queue, by its name
        self.locks = locks
        self.call = call
        self.settings = settings
        self.suspects: set[tuple[UUID, int]] = set()
        self.redispatch = Redispatch(app, settings.redispatch_seconds)

    async def scan(self, now: datetime) -> Effects:
        effects = await self._scan_workers(now)
        due = await self.call(self.redispatch.due, now)
        lost = [job for pool, jobs in due.items() if not await self._backlog(pool) for job in jobs]
        return effects.merge(await self.call(self.redispatch.send, lost, now)) if lost else effects

    async def _backlog(self, pool: str) -> bool:
        """Whether the pool's queue still holds messages: its jobs are then waiting their turn, not lost."""
        try:
            return await asyncio.wait_for(self.waiting(names.job_queue(pool)), BROKER_TIMEOUT_SECONDS) > 0
        except Exception as error:  # the broker cannot say now: ask again next scan, and let the rest of it be done
            log.warning("queue_depth_unknown", pool=pool, reason=repr(error)[:200])
            return True

    async def _scan_workers(self, now: datetime) -> Effects:
        beats = await self.locks.beats()
        silence = {(job, attempt): silent_for(b, now).total_seconds() for b in beats for job, attempt in b.jobs}
        await self._forget_departed(beats, now)
        claims = set(silence) | self.app.unaccounted
        if not claims:
            self.suspects = set()
            return Effects()
        running = await self.call(self.app.running, list(claims))
        self.app.unaccounted.intersection_update(running)  # those that ended are accounted for
        held = await self.locks.held(running)  # checked after loading: see Dispatcher.recover
        unlocked = {claim for claim in running if claim not in held}
        lost = [running[claim] for claim in unlocked & self.suspects]
        self.suspects = unlocked
        stuck = [
            (job, silence[claim])
            for claim, job in running.items()
            if claim in held and silence.get(claim, 0.0) > self.settings.stuck_after_seconds
        ]
        if not lost and not stuck:
            return Effects()
        effects: Effects = await self.call(self.app.recover, lost, stuck)
        return effects

    async def _forget_departed(self, beats: list[Any], now: datetime) -> None:
        limit = max(FORGET_AFTER_SECONDS, 5 * self.settings.stuck_after_seconds)
        for beat in beats:
            if silent_for(beat, now).total_seconds() > limit:
                await self.locks.forget(beat.worker_id)
