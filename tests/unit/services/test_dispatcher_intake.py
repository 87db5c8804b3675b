"""The dispatcher's intake on the embedded store: a submission becomes a batch and its jobs, or nothing."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import replace
from uuid import UUID

import pytest

from domain.errors import DuplicateBatchError, DuplicateJobError, InvalidDependenciesError
from domain.submission import BatchDraft, JobDraft, growing_parts
from services.dispatcher.job_id_lookup import JobIdLookup
from tests.unit.domain.builders import BATCH_ID, draft, job_id
from tests.unit.services.embedded import Engine, dispatched

OTHER_BATCH = job_id(100_000)
FIRST_PART = next(growing_parts())


def test_a_submission_becomes_a_processing_batch_whose_ready_jobs_are_dispatched(engine: Engine) -> None:
    effects = engine.submit(draft([JobDraft(job_id(1)), JobDraft(job_id(2), depends_on=[job_id(1)])]))

    assert effects.result == {"batch_id": str(BATCH_ID), "jobs": 2, "duplicate": False}
    assert dispatched(effects) == [job_id(1)]  # job 2 waits for job 1
    assert engine.events(BATCH_ID) == ["BatchSubmitted", "BatchStarted"]
    assert engine.status(job_id(2)) == "PENDING"


def test_the_same_batch_again_is_answered_duplicate_and_stores_nothing(engine: Engine) -> None:
    submission = draft([JobDraft(job_id(1))])
    engine.submit(submission)
    before = engine.store.max_position()

    effects = engine.submit(submission)

    assert effects.result["duplicate"] is True
    assert engine.store.max_position() == before


def test_other_content_under_a_known_batch_id_is_refused_duplicate_batch(engine: Engine) -> None:
    engine.submit(draft([JobDraft(job_id(1))]))

    with pytest.raises(DuplicateBatchError) as refused:
        engine.submit(replace(draft([JobDraft(job_id(1)), JobDraft(job_id(2))]), fingerprint="sha256:other"))

    assert refused.value.code == "DUPLICATE_BATCH"


def test_a_job_uuid_that_exists_in_another_batch_refuses_the_whole_submission(engine: Engine) -> None:
    engine.submit(draft([JobDraft(job_id(1))]))
    before = engine.store.max_position()

    with pytest.raises(DuplicateJobError) as refused:
        engine.submit(draft([JobDraft(job_id(2)), JobDraft(job_id(1))], batch_id=OTHER_BATCH))

    assert refused.value.job_uuid == job_id(1)
    assert engine.store.max_position() == before  # nothing of it stored: no batch, not job 2


def asked_ahead(engine: Engine, submission: BatchDraft) -> JobIdLookup:
    lookup = engine.app.look_up_job_ids([j.job_uuid for j in submission.jobs])
    lookup.answer.result()
    return lookup


def test_a_job_uuid_found_by_the_lookup_asked_ahead_refuses_the_submission(engine: Engine) -> None:
    engine.submit(draft([JobDraft(job_id(1))]))
    later = draft([JobDraft(job_id(2)), JobDraft(job_id(1))], batch_id=OTHER_BATCH)
    before = engine.store.max_position()

    with pytest.raises(DuplicateJobError) as refused:
        engine.app.submit(later, lookup=asked_ahead(engine, later))

    assert refused.value.job_uuid == job_id(1)
    assert engine.store.max_position() == before


def test_a_lookup_asked_before_other_jobs_were_stored_is_asked_again(engine: Engine) -> None:
    # The taken job comes after the first part: only the check before that part can refuse it whole.
    later = draft([JobDraft(job_id(n)) for n in range(2, 2 + FIRST_PART)] + [JobDraft(job_id(1))], batch_id=OTHER_BATCH)
    lookup = asked_ahead(engine, later)  # nothing exists yet: its answer is "none taken"
    engine.submit(draft([JobDraft(job_id(1))]))  # meanwhile another batch takes job 1
    before = engine.store.max_position()

    with pytest.raises(DuplicateJobError) as refused:
        engine.app.submit(later, lookup=lookup)

    assert refused.value.job_uuid == job_id(1)
    assert engine.store.max_position() == before  # nothing of it stored


def test_a_current_lookup_is_used_as_asked(engine: Engine) -> None:
    submission = draft([JobDraft(job_id(1)), JobDraft(job_id(2))])
    answered: Future[set[UUID]] = Future()
    answered.set_result({job_id(2)})  # what the store would have said, had job 2 existed
    lookup = JobIdLookup(answered, engine.app.jobs_stored.count)

    with pytest.raises(DuplicateJobError) as refused:  # asking the store again would find nothing taken
        engine.app.submit(submission, lookup=lookup)

    assert refused.value.job_uuid == job_id(2)


def test_a_dependency_cycle_is_refused_before_anything_is_stored(engine: Engine) -> None:
    cycle = [JobDraft(job_id(1), depends_on=[job_id(2)]), JobDraft(job_id(2), depends_on=[job_id(1)])]
    before = engine.store.max_position()

    with pytest.raises(InvalidDependenciesError):
        engine.submit(draft(cycle))

    assert engine.store.max_position() == before
