"""The dispatcher's reactions to outcomes on the embedded store: release, retry, abandon, cancel, report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from domain.submission import JobDraft
from tests.unit.domain.builders import BATCH_ID, draft, job_id
from tests.unit.services.embedded import HANDLER_ERROR, Engine, dispatched

J1, J2, J3 = job_id(1), job_id(2), job_id(3)


def test_a_completion_releases_the_dependent_that_waited_for_it(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2, depends_on=[J1])]))

    engine.run(J1)
    effects = engine.react()

    assert dispatched(effects) == [J2]


def test_a_failure_with_attempts_left_is_retried_after_its_backoff(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1, max_attempts=3)]))

    engine.run(J1, error=HANDLER_ERROR)
    effects = engine.react()

    assert engine.events(J1)[-1] == "JobRetried"
    assert engine.status(J1) == "PENDING"
    [(job_uuid, due)] = effects.timers
    assert job_uuid == J1 and due > engine.now  # woken later, not dispatched now
    assert dispatched(effects) == []


def test_a_retry_that_falls_due_is_dispatched(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1, max_attempts=3)]))
    engine.run(J1, error=HANDLER_ERROR)
    [(_, due)] = engine.react().timers

    engine.now = due + timedelta(seconds=1)
    effects = engine.app.retry_due(J1)

    assert dispatched(effects) == [J1]


def test_a_job_whose_attempts_are_spent_is_abandoned_with_retry_limit(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1, max_attempts=2)]))
    for _ in range(2):
        engine.run(J1, error=HANDLER_ERROR)
        engine.react()

    assert engine.status(J1) == "ABANDONED"
    abandoned = engine.store.history([J1])[-1].event
    assert abandoned.code == "RETRY_LIMIT"
    assert abandoned.reason == f"job {J1} has used 2 of 2 attempts"


def test_a_failed_job_cancels_its_dependents_and_the_batch_starts_reporting(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2, depends_on=[J1]), JobDraft(J3, depends_on=[J2])]))

    engine.run(J1, error=HANDLER_ERROR)
    engine.react()

    assert [engine.status(j) for j in (J1, J2, J3)] == ["FAILED", "CANCELLED", "CANCELLED"]
    assert engine.events(BATCH_ID)[-1] == "BatchReportingStarted"


def test_the_batch_starts_reporting_only_when_its_last_job_settles(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2)]))

    engine.run(J1)
    engine.react()
    assert engine.status(BATCH_ID) == "PROCESSING"

    engine.run(J2)
    engine.react()
    assert engine.status(BATCH_ID) == "REPORTING"


def test_a_restarted_dispatcher_finishes_what_a_crash_left_undone(engine: Engine, tmp_path: Path) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2, depends_on=[J1])]))
    engine.run(J1)  # the dispatcher dies before it hears the completion

    restarted = Engine(tmp_path)  # rebuilds its view from the same store

    assert dispatched(restarted.started) == [J2]
