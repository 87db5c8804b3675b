"""Finding orphaned and stuck jobs (QUEUE-006) from worker heartbeats and advisory locks.

Orphaned: the store says PROCESSING but no connection holds the attempt's lock,
so its worker died. Stuck: the lock is held (the worker's connection lives) but
the worker has not beaten for `stuck_after_seconds`. Either way the attempt is
fenced off in the store, so a late result from it is refused, and re-run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from services.adapters.locks import Locks, silent_for
from services.adapters.settings import Settings
from services.dispatcher.application import Dispatcher, Effects

FORGET_AFTER_SECONDS = 300.0


async def scan_workers(
    app: Dispatcher,
    locks: Locks,
    call: Callable[..., Awaitable[Any]],
    settings: Settings,
    now: datetime,
) -> Effects:
    beats = await locks.beats()
    silence = {(job, attempt): silent_for(b, now).total_seconds() for b in beats for job, attempt in b.jobs}
    if not silence:
        return Effects()
    running = await call(app.running, list(silence))
    held = await locks.held(running)  # checked after loading: see Dispatcher.recover
    lost = [job for claim, job in running.items() if claim not in held]
    stuck = [
        (job, silence[claim])
        for claim, job in running.items()
        if claim in held and silence[claim] > settings.stuck_after_seconds
    ]
    for beat in beats:
        if silent_for(beat, now).total_seconds() > max(FORGET_AFTER_SECONDS, 5 * settings.stuck_after_seconds):
            await locks.forget(beat.worker_id)
    if not lost and not stuck:
        return Effects()
    result: Effects = await call(app.recover, lost, stuck)
    return result
