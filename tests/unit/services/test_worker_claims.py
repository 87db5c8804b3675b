"""The worker's claim pipeline, on the embedded adapters (no servers).

A job message is only a hint: given the job's state in the store, when its
message is delivered, then the worker claims it (`JobStarted`), or drops a copy
that is stale, early or duplicated, or hands the message back while paused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from contracts.jobs import decode_job_message
from domain.job import JobError
from domain.queue import Queue, create_queue
from services.adapters.bus import Outcome
from services.worker.application import WorkerApplication
from tests.unit.services.worker_harness import JOB_QUEUE, WorkerUnderTest, deliver, new_job, run, worker_on

NOW = datetime.now(UTC)
NOOP = {"noop": lambda ctx: None}
RAN_ONCE = ["JobSubmitted", "JobStarted", "JobCompleted"]


def paused_queue() -> Queue:
    queue = create_queue(NOW)
    queue.pause("operator", "maintenance", NOW)
    return queue


def test_a_copy_of_a_job_that_already_ran_is_dropped_and_its_message_acked(tmp_path: Path) -> None:
    job = new_job()
    then = deliver(tmp_path, NOOP, [job], [job.id], [job.id])  # redelivered, or sent again
    assert then.verdicts[-1].outcome is Outcome.ACK
    assert then.events(job.id) == RAN_ONCE


def test_a_job_named_twice_in_one_message_is_claimed_and_run_once(tmp_path: Path) -> None:
    job = new_job()
    assert deliver(tmp_path, NOOP, [job], [job.id, job.id]).events(job.id) == RAN_ONCE


def test_a_job_whose_dependency_has_not_completed_is_not_claimed(tmp_path: Path) -> None:
    first = new_job()
    second = new_job(depends_on=[first.id])
    then = deliver(tmp_path, NOOP, [first, second], [second.id])
    assert then.verdicts[0].outcome is Outcome.ACK  # dropped: the dispatcher sends it again when it is ready
    assert then.events(second.id) == ["JobSubmitted"]


def test_a_job_whose_dependencies_completed_is_claimed_and_run(tmp_path: Path) -> None:
    first = new_job()
    second = new_job(depends_on=[first.id])
    assert deliver(tmp_path, NOOP, [first, second], [first.id], [second.id]).events(second.id) == RAN_ONCE


def test_a_job_waiting_out_its_retry_backoff_is_not_claimed(tmp_path: Path) -> None:
    job = new_job(max_attempts=3)
    job.start("another-worker", NOW)
    job.fail(1, JobError("FLAKY", "once"), NOW)
    job.retry_automatically(NOW + timedelta(hours=1), NOW)
    assert deliver(tmp_path, NOOP, [job], [job.id]).events(job.id)[-1] == "JobRetried"


def test_a_worker_started_while_the_queue_is_paused_hands_job_messages_back(tmp_path: Path) -> None:
    job = new_job()

    def given_paused(w: WorkerUnderTest) -> None:
        w.given(paused_queue(), job)

    async def scenario() -> None:
        async with worker_on(tmp_path, NOOP, consume=True, before_start=given_paused) as w:
            assert w.worker.pipeline.paused and not w.worker.pipeline.consuming
            verdict = await w.deliver(job.id)
            assert verdict.outcome is Outcome.REQUEUE
            assert w.events(job.id) == ["JobSubmitted"]

    run(scenario)


def test_a_queue_paused_before_the_worker_heard_of_it_stops_the_claim_and_the_consumer(tmp_path: Path) -> None:
    job = new_job()

    async def scenario() -> None:
        async with worker_on(tmp_path, NOOP, consume=True) as w:
            w.given(paused_queue(), job)  # stored, but its QueuePaused not yet heard
            verdict = await w.deliver(job.id)
            await w.settle()
            assert verdict.outcome is Outcome.REQUEUE
            assert w.events(job.id) == ["JobSubmitted"]
            assert w.worker.pipeline.paused and not w.worker.pipeline.consuming

    run(scenario)


def test_jobs_beyond_the_free_slots_are_passed_back_to_the_queue_for_other_workers(tmp_path: Path) -> None:
    jobs = [new_job() for _ in range(3)]

    async def scenario() -> None:
        async with worker_on(tmp_path, NOOP, concurrency=2) as w:
            w.given(*jobs)
            verdict = await w.deliver(*(job.id for job in jobs))
            await w.settle()
            assert verdict.outcome is Outcome.ACK
            assert [w.events(job.id)[-1] for job in jobs] == ["JobCompleted", "JobCompleted", "JobSubmitted"]
            passed_on = w.bus.queues[JOB_QUEUE].get_nowait()
            assert decode_job_message(passed_on.body) == [jobs[2].id]

    run(scenario)


def test_of_two_workers_claiming_one_job_at_once_one_loses(tmp_path: Path) -> None:
    job = new_job()

    async def scenario() -> None:
        async with worker_on(tmp_path, NOOP) as w:
            w.given(job)
            rival = WorkerApplication(w.store, "rival", lambda: datetime.now(UTC))
            seen_by_rival = rival.claimable([job.id])  # both read the job as PENDING
            await w.deliver(job.id)
            await w.settle()
            assert rival.start(list(seen_by_rival.jobs.values()), seen_by_rival.queue_version) == []
            assert [w.event(job.id, "JobStarted").worker_id] == ["worker-under-test"]

    run(scenario)
