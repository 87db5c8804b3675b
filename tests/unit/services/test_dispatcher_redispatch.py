"""A job dispatched but never started (its message lost) is sent again by the recovery scan.

Given a dispatched job whose message never reached a worker, when the scan runs past
`redispatch_seconds`, then the job is dispatched again, and a worker completes it once.
A job that started, waits for a dependency or a backoff, or sits in a paused queue is
not sent again. (A copy that comes after all is harmless: the worker's claim at the
job's expected version drops it, see `test_worker_claims.py`.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest

from contracts.commands import PauseQueue
from domain.submission import JobDraft
from services.adapters.settings import Settings
from services.dispatcher.application import Effects
from services.dispatcher.recovery import WorkerScan
from services.dispatcher.redispatch import Redispatch
from tests.unit.domain.builders import draft, job_id
from tests.unit.services.embedded import OPERATOR, Engine, dispatched

J1, J2 = job_id(1), job_id(2)
AFTER = 30.0


class Scan:
    """The recovery scan's redispatch on the dispatcher's thread, every job queue found empty."""

    def __init__(self, engine: Engine) -> None:
        self.redispatch = Redispatch(engine.app, AFTER)

    def __call__(self, now: datetime) -> Effects:
        due = self.redispatch.due(now)
        return self.redispatch.send([job for jobs in due.values() for job in jobs], now)


@pytest.fixture
def scan(engine: Engine) -> Scan:
    return Scan(engine)


def test_a_job_whose_message_was_lost_is_dispatched_again_and_completes_once(engine: Engine, scan: Scan) -> None:
    assert dispatched(engine.submit(draft([JobDraft(J1)]))) == [J1]  # this message is lost
    assert dispatched(scan(engine.now)) == []  # the watch begins

    assert dispatched(scan(engine.later(AFTER - 1))) == []
    assert dispatched(scan(engine.later(2))) == [J1]

    engine.run(J1)
    engine.react()
    assert dispatched(scan(engine.later(10 * AFTER))) == []
    assert engine.events(J1) == ["JobSubmitted", "JobStarted", "JobCompleted"]


def test_a_job_still_not_started_is_sent_again_after_twice_the_wait(engine: Engine, scan: Scan) -> None:
    engine.submit(draft([JobDraft(J1)]))
    scan(engine.now)
    assert dispatched(scan(engine.later(AFTER + 1))) == [J1]

    assert dispatched(scan(engine.later(AFTER + 1))) == []
    assert dispatched(scan(engine.later(AFTER + 1))) == [J1]


def test_a_job_that_started_is_not_sent_again(engine: Engine, scan: Scan) -> None:
    engine.submit(draft([JobDraft(J1)]))
    scan(engine.now)
    job = engine.job(J1)
    job.start("worker-1", engine.later(1))
    engine.store.save(job)  # the dispatcher hears no JobStarted: its view still says PENDING

    assert dispatched(scan(engine.later(AFTER + 1))) == []
    assert dispatched(scan(engine.later(100 * AFTER))) == []
    # From now on the recovery scan checks the attempt's lock, whether a heartbeat lists it or not.
    assert (J1, 1) in engine.app.unaccounted


def test_a_dependent_released_long_after_its_dispatch_is_not_sent_twice(engine: Engine, scan: Scan) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2, depends_on=[J1])]))
    scan(engine.now)
    assert dispatched(scan(engine.later(AFTER + 1))) == [J1]  # J2 waits for J1, so it is not due
    engine.run(J1)
    assert dispatched(engine.react()) == [J2]

    assert dispatched(scan(engine.later(1))) == []
    assert dispatched(scan(engine.later(AFTER + 1))) == [J2]  # and then it is lost as well


def test_nothing_is_sent_again_while_the_queue_is_paused(engine: Engine, scan: Scan) -> None:
    engine.submit(draft([JobDraft(J1)]))
    scan(engine.now)
    engine.app.pause_queue(PauseQueue(reason="upgrade"), OPERATOR)

    assert dispatched(scan(engine.later(AFTER + 1))) == []


class NoWorkers:
    async def beats(self) -> list[object]:
        return []


@pytest.mark.parametrize(("ready_messages", "sent"), [(0, [J1]), (250, []), (None, [])])
def test_a_job_is_sent_again_only_once_its_pools_queue_has_emptied(
    engine: Engine, ready_messages: int | None, sent: list[UUID]
) -> None:
    """A job still behind others in its queue is waiting its turn, not lost; a broker that cannot say is asked later."""

    async def direct(func: Callable[..., Any], *args: Any) -> Any:
        return func(*args)

    async def waiting(queue: str) -> int:
        assert queue == "batchq.jobs.default"
        if ready_messages is None:
            raise ConnectionError("the broker is away")
        return ready_messages

    settings = Settings(redispatch_seconds=AFTER)
    recovery = WorkerScan(engine.app, NoWorkers(), direct, settings, waiting)  # type: ignore[arg-type]
    engine.submit(draft([JobDraft(J1)]))
    asyncio.run(recovery.scan(engine.now))

    assert dispatched(asyncio.run(recovery.scan(engine.later(AFTER + 1)))) == sent
