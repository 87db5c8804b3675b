"""A job dispatched but never started (its message lost) is sent again by the recovery scan.

Given a dispatched job whose message never reached a worker, when the scan runs past
`redispatch_seconds`, then the job is dispatched again, and a worker completes it once.
A job that started, waits for a dependency or a backoff, or sits in a paused queue is
not sent again. (A copy that comes after all is harmless: the worker's claim at the
job's expected version drops it, see `test_worker_claims.py`.)
"""

from __future__ import annotations

import pytest

from contracts.commands import PauseQueue
from domain.submission import JobDraft
from services.dispatcher.redispatch import Redispatch
from tests.unit.domain.builders import draft, job_id
from tests.unit.services.embedded import OPERATOR, Engine, dispatched

J1, J2 = job_id(1), job_id(2)
AFTER = 30.0


@pytest.fixture
def scan(engine: Engine) -> Redispatch:
    return Redispatch(engine.app, AFTER)


def test_a_job_whose_message_was_lost_is_dispatched_again_and_completes_once(engine: Engine, scan: Redispatch) -> None:
    assert dispatched(engine.submit(draft([JobDraft(J1)]))) == [J1]  # this message is lost
    assert dispatched(scan(engine.now)) == []  # the watch begins

    assert dispatched(scan(engine.later(AFTER - 1))) == []
    assert dispatched(scan(engine.later(2))) == [J1]

    engine.run(J1)
    engine.react()
    assert dispatched(scan(engine.later(10 * AFTER))) == []
    assert engine.events(J1) == ["JobSubmitted", "JobStarted", "JobCompleted"]


def test_a_job_still_not_started_is_sent_again_after_twice_the_wait(engine: Engine, scan: Redispatch) -> None:
    engine.submit(draft([JobDraft(J1)]))
    scan(engine.now)
    assert dispatched(scan(engine.later(AFTER + 1))) == [J1]

    assert dispatched(scan(engine.later(AFTER + 1))) == []
    assert dispatched(scan(engine.later(AFTER + 1))) == [J1]


def test_a_job_that_started_is_not_sent_again(engine: Engine, scan: Redispatch) -> None:
    engine.submit(draft([JobDraft(J1)]))
    scan(engine.now)
    job = engine.job(J1)
    job.start("worker-1", engine.later(1))
    engine.store.save(job)  # the dispatcher hears no JobStarted: its view still says PENDING

    assert dispatched(scan(engine.later(AFTER + 1))) == []
    assert dispatched(scan(engine.later(100 * AFTER))) == []


def test_a_dependent_released_long_after_its_dispatch_is_not_sent_twice(engine: Engine, scan: Redispatch) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2, depends_on=[J1])]))
    scan(engine.now)
    assert dispatched(scan(engine.later(AFTER + 1))) == [J1]  # J2 waits for J1, so it is not due
    engine.run(J1)
    assert dispatched(engine.react()) == [J2]

    assert dispatched(scan(engine.later(1))) == []
    assert dispatched(scan(engine.later(AFTER + 1))) == [J2]  # and then it is lost as well


def test_nothing_is_sent_again_while_the_queue_is_paused(engine: Engine, scan: Redispatch) -> None:
    engine.submit(draft([JobDraft(J1)]))
    scan(engine.now)
    engine.app.pause_queue(PauseQueue(reason="upgrade"), OPERATOR)

    assert dispatched(scan(engine.later(AFTER + 1))) == []
