"""The seed use cases (000, 001) walked step by step through the domain.

Each step is one decision (a job starts, completes or fails; an admin retries a
job, asks for update reporting or deletes the batch), and after each step the
batch and every job are in the state the seed's diagram shows. `SeedRun` plays
the dispatcher's bookkeeping: it keeps a `JobTally` in step with job changes and
moves the batch to REPORTING as soon as every job is settled.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from domain.batch import Batch, submit_batch
from domain.errors import IllegalTransitionError
from domain.job import Job
from domain.reporting import ReportPlan
from domain.states import BatchStatus
from domain.submission import JobDraft, create_batch
from domain.tally import JobTally
from tests.unit.domain.builders import HANDLER_ERROR, at, draft, job_id, new_events

P, W, C, F = "PENDING", "PROCESSING", "COMPLETED", "FAILED"


class SeedRun:
    """A three-job batch, with the dispatcher's tally and reporting trigger."""

    def __init__(self) -> None:
        self.minute = 0
        created = create_batch(draft(JobDraft(job_id(n)) for n in (1, 2, 3)), {}, at(0))
        self.batch: Batch = created.batch
        self.jobs: dict[int, Job] = {n: job for n, job in enumerate(created.jobs, start=1)}
        self.tally = JobTally.all_pending(len(self.jobs))

    def now(self) -> datetime:
        self.minute += 1
        return at(self.minute)

    def change(self, n: int, decision: Callable[[Job], None]) -> None:
        job = self.jobs[n]
        old = job.status
        decision(job)
        self.tally.move(old, job.status)
        if self.batch.status is BatchStatus.PROCESSING and self.tally.all_settled:
            self.batch.start_reporting(self.tally, self.now())

    def start(self, n: int) -> None:
        self.change(n, lambda job: job.start(f"worker-{n}", self.now()))

    def complete(self, n: int) -> None:
        self.change(n, lambda job: job.complete(job.attempts, {"sha256": f"{n:064x}"}, self.now()))

    def fail(self, n: int) -> None:
        self.change(n, lambda job: job.fail(job.attempts, HANDLER_ERROR, self.now()))

    def retry(self, n: int) -> None:
        self.change(n, lambda job: job.retry("admin", "payload fixed", False, self.now()))

    def report(self) -> ReportPlan:
        """The reporter: plan the report from the jobs as they are, then conclude."""
        job_states = {str(job.id): job.status.value for job in self.jobs.values()}
        done = sum(job.done for job in self.jobs.values())
        plan = self.batch.plan_report(job_states, done)
        self.batch.conclude(plan, f"<report-{self.minute}@batchq>", self.now())
        return plan

    def request_update_reporting(self) -> None:
        unsettled = self.tally.total - self.tally.settled
        self.batch.request_update_reporting("admin", "job 3 was fixed", unsettled, self.now())

    def delete(self) -> None:
        self.batch.delete("admin", "resubmission of the failed job is not possible", self.now())

    def states(self) -> tuple[str, ...]:
        """The batch state, then job 1, 2 and 3: the seed's diagram in one line."""
        return (self.batch.status.value, *(self.jobs[n].status.value for n in (1, 2, 3)))

    def recorded(self) -> dict[str, list[str]]:
        """The events recorded since the last look, by aggregate (empty ones left out)."""
        named = {"batch": self.batch} | {f"job {n}": job for n, job in self.jobs.items()}
        events = {name: new_events(aggregate) for name, aggregate in named.items()}
        return {name: names for name, names in events.items() if names}


def processed_to_reporting(run: SeedRun, job_3_fails: bool) -> None:
    """The first half every seed shares: the jobs begin, 2 completes, 3 ends, 1 completes."""
    assert run.states() == (W, P, P, P)
    assert run.recorded() == {
        "batch": ["BatchSubmitted", "BatchStarted"],
        "job 1": ["JobSubmitted"],
        "job 2": ["JobSubmitted"],
        "job 3": ["JobSubmitted"],
    }
    for n in (1, 2, 3):
        run.start(n)
    assert run.states() == (W, W, W, W)
    run.complete(2)
    assert run.states() == (W, W, C, W)
    if job_3_fails:
        run.fail(3)
        assert run.states() == (W, W, C, F)
    else:
        run.complete(3)
        assert run.states() == (W, W, C, C)
    run.complete(1)
    assert run.states() == (BatchStatus.REPORTING, C, C, F if job_3_fails else C)
    assert run.recorded() == {
        "batch": ["BatchReportingStarted"],
        "job 1": ["JobStarted", "JobCompleted"],
        "job 2": ["JobStarted", "JobCompleted"],
        "job 3": ["JobStarted", "JobFailed" if job_3_fails else "JobCompleted"],
    }


def failed_batch() -> SeedRun:
    """Given: the Failed Batch use case up to its end (batch FAILED, job 3 FAILED)."""
    run = SeedRun()
    processed_to_reporting(run, job_3_fails=True)
    run.report()
    run.recorded()
    assert run.states() == (F, C, C, F)
    return run


def test_successful_batch_reports_success_and_completes() -> None:
    run = SeedRun()
    processed_to_reporting(run, job_3_fails=False)

    plan = run.report()

    assert (plan.kind, plan.outcome, plan.send) == ("initial", BatchStatus.COMPLETED, True)
    assert plan.job_states == {str(job_id(n)): C for n in (1, 2, 3)}
    assert run.recorded() == {"batch": ["BatchReported", "BatchCompleted"]}
    assert run.states() == (C, C, C, C)
    assert [(r["kind"], r["status"]) for r in run.batch.reports] == [("initial", C)]


def test_failed_batch_reports_failure_and_fails() -> None:
    run = SeedRun()
    processed_to_reporting(run, job_3_fails=True)

    plan = run.report()

    assert (plan.kind, plan.outcome, plan.send) == ("initial", BatchStatus.FAILED, True)
    assert plan.job_states == {str(job_id(1)): C, str(job_id(2)): C, str(job_id(3)): F}
    assert run.recorded() == {"batch": ["BatchReported", "BatchFailed"]}
    assert run.states() == (F, C, C, F)
    assert run.batch.last_reported == plan.job_states


def test_batch_waits_in_processing_until_every_job_is_settled() -> None:
    run = SeedRun()
    run.start(1)
    run.complete(1)

    with pytest.raises(IllegalTransitionError, match="2 jobs not settled"):
        run.batch.start_reporting(run.tally, at(30))

    assert run.states() == (W, C, P, P)


def test_failed_batch_with_successful_retry_ends_completed_after_an_update_report() -> None:
    run = failed_batch()

    run.retry(3)
    assert run.states() == (F, C, C, P)
    run.start(3)
    assert run.states() == (F, C, C, W)
    run.complete(3)
    assert run.states() == (F, C, C, C)
    assert run.recorded() == {"job 3": ["JobRetried", "JobStarted", "JobCompleted"]}

    run.request_update_reporting()
    assert run.states() == (BatchStatus.UPDATE_REPORTING, C, C, C)
    plan = run.report()

    assert (plan.kind, plan.outcome, plan.send) == ("update", BatchStatus.COMPLETED, True)
    assert plan.changed == [str(job_id(3))]
    assert run.recorded() == {"batch": ["BatchUpdateReportingRequested", "BatchReported", "BatchCompleted"]}
    assert run.states() == (C, C, C, C)
    assert [(r["kind"], r["status"], r["changed"]) for r in run.batch.reports] == [
        ("initial", F, [str(job_id(n)) for n in (1, 2, 3)]),
        ("update", C, [str(job_id(3))]),
    ]


def test_failed_batch_with_unsuccessful_retry_sends_no_update_and_stays_failed() -> None:
    run = failed_batch()

    run.retry(3)
    run.start(3)
    assert run.states() == (F, C, C, W)
    run.fail(3)
    assert run.states() == (F, C, C, F)

    run.request_update_reporting()
    assert run.states() == (BatchStatus.UPDATE_REPORTING, C, C, F)
    plan = run.report()

    assert (plan.kind, plan.outcome, plan.send, plan.changed) == (
        "update",
        BatchStatus.FAILED,
        False,
        [],
    )
    assert run.recorded() == {
        "job 3": ["JobRetried", "JobStarted", "JobFailed"],
        "batch": ["BatchUpdateReportingRequested", "BatchFailed"],
    }
    assert run.states() == (F, C, C, F)
    assert len(run.batch.reports) == 1

    run.delete()
    assert run.states() == (BatchStatus.DELETED, C, C, F)


def test_update_reporting_is_refused_while_the_retried_job_is_still_running() -> None:
    run = failed_batch()
    run.retry(3)
    run.start(3)

    with pytest.raises(IllegalTransitionError, match="1 jobs are still running or queued"):
        run.request_update_reporting()

    assert run.states() == (F, C, C, W)
    assert run.recorded() == {"job 3": ["JobRetried", "JobStarted"]}


def test_admin_deletes_the_failed_batch() -> None:
    run = failed_batch()

    run.delete()

    assert run.states() == (BatchStatus.DELETED, C, C, F)
    assert run.recorded() == {"batch": ["BatchDeleted"]}
    with pytest.raises(IllegalTransitionError, match="is DELETED; cannot delete"):
        run.delete()


def batch_in(status: BatchStatus) -> SeedRun:
    """Given: a seed batch driven (by decisions, not by assignment) to `status`."""
    if status is BatchStatus.FAILED:
        return failed_batch()
    run = SeedRun()
    if status is BatchStatus.PENDING:
        run.batch = submit_batch(
            batch_id=job_id(100),
            tenant="acme",
            user_id="depositor-7",
            trace_id="t",
            depositor_email="depositor@example.org",
            job_uuids=[job_id(n) for n in (1, 2, 3)],
            fingerprint="f",
            now=at(0),
        )
    elif status in (BatchStatus.REPORTING, BatchStatus.COMPLETED):
        processed_to_reporting(run, job_3_fails=False)
        if status is BatchStatus.COMPLETED:
            run.report()
    elif status is BatchStatus.UPDATE_REPORTING:
        run = failed_batch()
        run.request_update_reporting()
    elif status is BatchStatus.DELETED:
        run.delete()
    run.recorded()
    assert run.batch.status is status
    return run


@pytest.mark.parametrize("status", [s for s in BatchStatus if s is not BatchStatus.FAILED])
def test_only_a_failed_batch_goes_to_update_reporting(status: BatchStatus) -> None:
    run = batch_in(status)
    version = run.batch.version

    with pytest.raises(IllegalTransitionError) as refused:
        run.request_update_reporting()

    assert refused.value.code == "ILLEGAL_TRANSITION"
    assert f"batch {run.batch.id} is {status.value}; cannot update reporting" in str(refused.value)
    assert run.batch.version == version
    assert run.recorded() == {}


@pytest.mark.parametrize("status", [s for s in BatchStatus if s is not BatchStatus.DELETED])
def test_any_batch_but_a_deleted_one_can_be_deleted(status: BatchStatus) -> None:
    run = batch_in(status)

    run.delete()

    assert run.batch.status is BatchStatus.DELETED
    assert run.recorded() == {"batch": ["BatchDeleted"]}


@pytest.mark.parametrize(
    ("status", "decision"),
    [
        (BatchStatus.PROCESSING, "start"),
        (BatchStatus.REPORTING, "start reporting"),
        (BatchStatus.PROCESSING, "report"),
        (BatchStatus.FAILED, "report"),
        (BatchStatus.COMPLETED, "conclude reporting"),
    ],
)
def test_batch_refuses_a_decision_its_state_does_not_allow(status: BatchStatus, decision: str) -> None:
    run = batch_in(status)
    version = run.batch.version
    plan = ReportPlan("initial", BatchStatus.COMPLETED, {}, [], True)
    decide = {
        "start": lambda: run.batch.start(at(50)),
        "start reporting": lambda: run.batch.start_reporting(run.tally, at(50)),
        "report": lambda: run.batch.plan_report({}, 0),
        "conclude reporting": lambda: run.batch.conclude(plan, "<m@batchq>", at(50)),
    }[decision]

    with pytest.raises(IllegalTransitionError, match=f"is {status.value}; cannot {decision}"):
        decide()

    assert run.batch.version == version
    assert run.recorded() == {}
