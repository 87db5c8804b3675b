"""A large batch is taken in by parts: its first jobs are dispatched before its last ones exist.

A crash between parts loses nothing: the batch is not reported before every job it
names exists, and the same submission delivered again makes the missing ones.
"""

from __future__ import annotations

import pytest

from domain.errors import DuplicateJobError
from domain.submission import JobDraft
from services.dispatcher.application import Effects
from tests.unit.domain.builders import BATCH_ID, draft, job_id
from tests.unit.services.embedded import HANDLER_ERROR, Engine, dispatched

JOBS = 1000  # parts of 256, 512 and the 232 left
LAST = job_id(JOBS - 1)


class Crash(Exception):
    """The dispatcher's process dies: nothing after this point happens."""


def thousand_jobs(**first: object) -> list[JobDraft]:
    return [JobDraft(job_id(0), **first)] + [JobDraft(job_id(n)) for n in range(1, JOBS)]  # type: ignore[arg-type]


def test_each_part_is_handed_over_for_dispatch_before_the_next_is_appended(engine: Engine) -> None:
    handed: list[tuple[int, bool]] = []

    def on_part(effects: Effects) -> None:
        handed.append((len(dispatched(effects)), bool(engine.store.existing([LAST]))))

    result = engine.app.submit(draft(thousand_jobs()), on_part)

    assert handed == [(256, False), (512, False), (232, True)]
    assert result.result == {"batch_id": str(BATCH_ID), "jobs": JOBS, "duplicate": False}
    assert result.dispatch == []  # all of it went out part by part


def test_a_job_that_depends_on_a_job_of_a_later_part_waits_for_it(engine: Engine) -> None:
    effects = engine.submit(draft(thousand_jobs(depends_on=[LAST])))
    assert job_id(0) not in dispatched(effects)
    assert LAST in dispatched(effects)

    engine.run(LAST)

    assert dispatched(engine.react()) == [job_id(0)]


def test_a_job_id_taken_in_a_later_part_refuses_the_whole_submission(engine: Engine) -> None:
    engine.submit(draft([JobDraft(LAST)], batch_id=job_id(5000)))
    before = engine.store.max_position()

    with pytest.raises(DuplicateJobError) as refused:
        engine.submit(draft(thousand_jobs()))

    assert refused.value.job_uuid == LAST
    assert engine.store.max_position() == before  # not even the first part


def crash_after_first_part(effects: Effects) -> None:
    raise Crash


def test_an_intake_cut_short_by_a_crash_is_finished_by_the_same_submission_again(engine: Engine) -> None:
    submission = draft(thousand_jobs())
    with pytest.raises(Crash):
        engine.app.submit(submission, crash_after_first_part)
    assert len(engine.store.existing(job_id(n) for n in range(JOBS))) == 256
    restarted = engine.restart()
    for job_uuid in dispatched(restarted):
        engine.run(job_uuid)
    engine.react()
    assert engine.status(BATCH_ID) == "PROCESSING"  # 744 jobs it names do not exist yet: no report

    again = engine.submit(submission)

    assert again.result["duplicate"] is True
    assert len(engine.store.existing(job_id(n) for n in range(JOBS))) == JOBS
    assert sorted(dispatched(again), key=lambda u: u.int) == [job_id(n) for n in range(256, JOBS)]
    for job_uuid in dispatched(again):
        engine.run(job_uuid)
    engine.react()
    assert engine.status(BATCH_ID) == "REPORTING"


def test_a_dependent_made_after_its_dependency_failed_is_cancelled(engine: Engine) -> None:
    jobs = [JobDraft(job_id(n)) for n in range(JOBS - 1)] + [JobDraft(LAST, depends_on=[job_id(0)])]
    with pytest.raises(Crash):
        engine.app.submit(draft(jobs), crash_after_first_part)
    engine.restart()
    engine.run(job_id(0), error=HANDLER_ERROR)
    engine.react()

    engine.submit(draft(jobs))

    assert engine.status(LAST) == "CANCELLED"
