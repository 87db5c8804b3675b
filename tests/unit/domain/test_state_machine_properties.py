"""Random histories of a small batch keep the state machines' promises.

Hypothesis drives a batch of 3 to 6 jobs (random acyclic `depends_on`, random
`max_attempts`) with every decision the domain offers, in any order. A decision
the state machine refuses must leave its aggregate untouched; one it accepts is
appended to a global event log, and the invariants read that log the way an
auditor would.

The rules play the services' part where the domain leaves it to them, as the
contract describes: the dispatcher starts only ready jobs, starts nothing and
retries nothing in a deleted batch, cancels the pending jobs of a deleted batch,
and cancels the pending dependents of a job that failed for good or was
cancelled. Retries are not accepted while the batch's report is being written
(REPORTING, UPDATE_REPORTING): the batch does not see its jobs, so it cannot
refuse them itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.batch import REPORTING_STATES, Batch
from domain.dependencies import dependents_index, is_ready, transitive_dependents
from domain.errors import IllegalTransitionError, RetryLimitError
from domain.job import Job
from domain.states import SETTLED_JOB_STATES, TERMINAL_JOB_STATES, BatchStatus, JobStatus
from domain.submission import JobDraft, create_batch
from domain.tally import JobTally
from tests.unit.domain.builders import HANDLER_ERROR, InMemoryApplication, at, draft, job_id

JOB = st.integers(min_value=0, max_value=5)  # taken modulo the number of jobs
STALE = st.booleans()  # report for the previous attempt instead of the current one
OUTCOMES = [*["complete"] * 6, "fail", "record a lost worker"]
ANY_DECISION: dict[str, Callable[[Job, datetime], object]] = {
    "start": lambda job, now: job.start("worker-x", now),
    "complete": lambda job, now: job.complete(job.attempts, None, now),
    "fail": lambda job, now: job.fail(job.attempts, HANDLER_ERROR, now),
    "flag as stuck": lambda job, now: job.flag_stuck(job.attempts, 600.0, now),
    "record a lost worker": lambda job, now: job.lose_worker(job.attempts, now),
    "retry": lambda job, now: job.retry("admin", "", False, now),
    "retry automatically": lambda job, now: job.retry_automatically(now, now),
    "cancel": lambda job, now: job.cancel("cancelled by admin", now),
    "skip": lambda job, now: job.skip(job_id(999), "COMPLETED", now),
    "abandon": lambda job, now: job.abandon(now),
}


def state_of(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def replayed(aggregate: Batch | Job) -> Any:
    rebuilt = None
    for event in aggregate.pending_events:  # never collected: the whole history
        rebuilt = event.mutate(rebuilt)
    return rebuilt


class BatchHistory(RuleBasedStateMachine):
    batch: Batch
    jobs: list[Job]

    # -- set-up and bookkeeping -------------------------------------------------------

    @initialize(data=st.data())
    def submit_batch(self, data: st.DataObject) -> None:
        count = data.draw(st.integers(min_value=3, max_value=6), label="jobs")
        specs = []
        for n in range(count):
            earlier = st.lists(st.sampled_from(range(n)), unique=True) if n else st.just([])
            deps = data.draw(earlier, label=f"job {n} depends on")
            attempts = data.draw(st.integers(min_value=1, max_value=3), label=f"job {n} max_attempts")
            specs.append(JobDraft(job_id(n + 1), depends_on=[job_id(d + 1) for d in deps], max_attempts=attempts))
        created = create_batch(draft(specs), {}, at(0))
        self.batch, self.jobs = created.batch, created.jobs
        self.by_id = {job.id: job for job in self.jobs}
        self.waiting_for = dependents_index({job.id: job.depends_on for job in self.jobs})
        self.tally = JobTally(total=count)
        for job in self.jobs:
            self.tally.move(None, job.status)
        self.minute = 0
        self.log: list[tuple[UUID, Any]] = []
        self.logged: Counter[UUID] = Counter()
        self.touched: set[UUID] = set()
        self.audit = Audit()
        for aggregate in created.aggregates():
            self.record(aggregate)

    def now(self) -> datetime:
        self.minute += 1
        return at(self.minute)

    def record(self, aggregate: Any) -> None:
        events = aggregate.pending_events[self.logged[aggregate.id] :]
        self.log.extend((aggregate.id, event) for event in events)
        self.logged[aggregate.id] += len(events)
        self.touched.add(aggregate.id)

    def decide(self, aggregate: Batch | Job, decision: Callable[[datetime], object]) -> bool:
        """Take one decision; a refused one must leave the aggregate exactly as it was."""
        version, pending, status = (
            aggregate.version,
            len(aggregate.pending_events),
            aggregate.status,
        )
        try:
            decision(self.now())
        except (IllegalTransitionError, RetryLimitError):
            assert aggregate.version == version
            assert len(aggregate.pending_events) == pending
            assert aggregate.status is status
            return False
        if isinstance(aggregate, Job) and aggregate.status is not status:
            self.tally.move(status, aggregate.status)
        self.record(aggregate)
        return True

    def some(self, *statuses: JobStatus) -> bool:
        return any(job.status in statuses for job in self.jobs)

    def job(self, index: int, *likely: JobStatus) -> Job:
        """A job in one of the `likely` states if there is one (so decisions apply), else any."""
        candidates = [job for job in self.jobs if job.status in likely] or self.jobs
        return candidates[index % len(candidates)]

    def attempt(self, job: Job, stale: bool) -> int:
        return job.attempts - 1 if stale else job.attempts

    def ready(self, job: Job) -> bool:
        return is_ready(job.depends_on, lambda j: self.by_id[j].done)

    def accepts_retries(self) -> bool:
        return self.batch.status not in REPORTING_STATES and self.batch.status is not BatchStatus.DELETED

    def ready_jobs(self) -> list[Job]:
        if self.batch.status is BatchStatus.DELETED:
            return []  # the dispatcher starts nothing in a deleted batch
        return [job for job in self.jobs if job.status is JobStatus.PENDING and self.ready(job)]

    def orphans(self) -> list[tuple[Job, UUID]]:
        """PENDING jobs waiting, maybe indirectly, for a job failed for good or cancelled."""
        found = []
        for job in self.jobs:
            failed_for_good = job.status is JobStatus.FAILED and not job.may_retry_automatically
            gone = job.status in (JobStatus.CANCELLED, JobStatus.ABANDONED)
            skipped_undone = job.status is JobStatus.SKIPPED and not job.skipped_as_done
            if failed_for_good or gone or skipped_undone:
                for dependent in transitive_dependents(job.id, lambda j: self.waiting_for.get(j, [])):
                    if self.by_id[dependent].status is JobStatus.PENDING:
                        found.append((self.by_id[dependent], job.id))
        return found

    # -- the worker's and the admin's decisions on jobs ---------------------------------
    # Each rule is enabled when some job is in a state where its decision may apply;
    # `any_decision_on_any_job` and the stale attempts cover the refusals.

    def start(self, index: int) -> Job:
        ready = self.ready_jobs()
        job = ready[index % len(ready)]
        self.decide(job, lambda now: job.start(f"worker-{index}", now))
        return job

    @precondition(lambda self: self.ready_jobs())
    @rule(index=JOB)
    def start_job(self, index: int) -> None:
        self.start(index)

    @precondition(lambda self: self.ready_jobs())
    @rule(index=JOB, outcome=st.sampled_from(OUTCOMES))
    def run_a_ready_job_to_its_end(self, index: int, outcome: str) -> None:
        """A worker's whole attempt in one step, so that histories get as far as reporting."""
        job = self.start(index)
        self.decide(job, lambda now: ANY_DECISION[outcome](job, now))

    @precondition(lambda self: self.ready_jobs())
    @rule(outcomes=st.lists(st.sampled_from(OUTCOMES), min_size=6, max_size=6))
    def run_every_ready_job(self, outcomes: list[str]) -> None:
        """The whole worker pool takes one turn: every ready job runs one attempt."""
        for job, outcome in zip(self.ready_jobs(), outcomes, strict=False):
            self.decide(job, lambda now, j=job: j.start("worker-pool", now))
            self.decide(job, lambda now, j=job, o=outcome: ANY_DECISION[o](j, now))

    @precondition(lambda self: self.some(JobStatus.PROCESSING))
    @rule(index=JOB, progress=st.floats(min_value=-1.0, max_value=2.0), stale=STALE)
    def report_progress(self, index: int, progress: float, stale: bool) -> None:
        job = self.job(index, JobStatus.PROCESSING)
        if self.decide(job, lambda now: job.report_progress(self.attempt(job, stale), progress, now)):
            assert job.progress is not None and 0.0 <= job.progress <= 1.0

    @precondition(lambda self: self.some(JobStatus.PROCESSING))
    @rule(index=JOB, stale=STALE)
    def complete_job(self, index: int, stale: bool) -> None:
        job = self.job(index, JobStatus.PROCESSING)
        self.decide(job, lambda now: job.complete(self.attempt(job, stale), {"n": index}, now))

    @precondition(lambda self: self.some(JobStatus.PROCESSING))
    @rule(index=JOB, stale=STALE)
    def fail_job(self, index: int, stale: bool) -> None:
        job = self.job(index, JobStatus.PROCESSING)
        self.decide(job, lambda now: job.fail(self.attempt(job, stale), HANDLER_ERROR, now))

    @precondition(lambda self: self.some(JobStatus.PROCESSING))
    @rule(index=JOB, stale=STALE)
    def flag_stuck(self, index: int, stale: bool) -> None:
        job = self.job(index, JobStatus.PROCESSING)
        self.decide(job, lambda now: job.flag_stuck(self.attempt(job, stale), 600.0, now))

    @precondition(lambda self: self.some(JobStatus.PROCESSING))
    @rule(index=JOB, stale=STALE)
    def lose_worker(self, index: int, stale: bool) -> None:
        job = self.job(index, JobStatus.PROCESSING)
        self.decide(job, lambda now: job.lose_worker(self.attempt(job, stale), now))

    @precondition(lambda self: self.accepts_retries() and self.some(JobStatus.FAILED, *TERMINAL_JOB_STATES))
    @rule(index=JOB, override=st.booleans())
    def retry_job(self, index: int, override: bool) -> None:
        job = self.job(index, JobStatus.FAILED, *TERMINAL_JOB_STATES)
        self.decide(job, lambda now: job.retry("admin", "try again", override, now))

    @precondition(lambda self: self.accepts_retries() and self.some(JobStatus.FAILED))
    @rule(index=JOB)
    def retry_automatically(self, index: int) -> None:
        job = self.job(index, JobStatus.FAILED)
        self.decide(job, lambda now: job.retry_automatically(now + timedelta(seconds=2), now))

    @precondition(lambda self: self.some(JobStatus.PENDING))
    @rule(index=JOB, admin_decides=st.booleans())
    def cancel_job(self, index: int, admin_decides: bool) -> None:
        if not admin_decides:
            return  # cancelling ends a job's story; keep it rarer than running it
        job = self.job(index, JobStatus.PENDING)
        self.decide(job, lambda now: job.cancel("cancelled by admin", now))

    @precondition(lambda self: self.some(JobStatus.PENDING))
    @rule(index=JOB, earlier_status=st.sampled_from(["COMPLETED", "FAILED", "-", "-"]))
    def skip_job(self, index: int, earlier_status: str) -> None:
        if earlier_status == "-":
            return  # skipping ends a job's story; keep it rarer than running it
        job = self.job(index, JobStatus.PENDING)
        self.decide(job, lambda now: job.skip(job_id(999), earlier_status, now))

    @precondition(lambda self: self.some(JobStatus.FAILED))
    @rule(index=JOB)
    def abandon_job(self, index: int) -> None:
        job = self.job(index, JobStatus.FAILED)
        self.decide(job, lambda now: job.abandon(now))

    @rule(index=JOB, decision=st.sampled_from(sorted(ANY_DECISION)))
    def any_decision_on_any_job(self, index: int, decision: str) -> None:
        """Whatever its state: mostly refused, and a refusal must change nothing."""
        job = self.jobs[index % len(self.jobs)]
        if decision == "start" and job not in self.ready_jobs() and job.status is JobStatus.PENDING:
            return
        if decision.startswith("retry") and not self.accepts_retries():
            return
        self.decide(job, lambda now: ANY_DECISION[decision](job, now))

    # -- the dispatcher, the reporter and the admin on the batch ------------------------

    @precondition(lambda self: self.orphans())
    @rule()
    def cancel_dependents_of_settled_failures(self) -> None:
        for dependent, cause in self.orphans():
            if dependent.status is JobStatus.PENDING:
                self.decide(dependent, lambda now, d=dependent, c=cause: d.cancel("dependency", now, c))

    @precondition(lambda self: self.batch.status is BatchStatus.PROCESSING and self.tally.all_settled)
    @rule()
    def start_reporting(self) -> None:
        self.decide(self.batch, lambda now: self.batch.start_reporting(self.tally, now))

    @precondition(lambda self: self.batch.status in REPORTING_STATES)
    @rule()
    def report_and_conclude(self) -> None:
        job_states = {str(job.id): job.status.value for job in self.jobs}
        done = sum(job.done for job in self.jobs)
        reports_before = len(self.batch.reports)
        plans = []

        def report(now: datetime) -> None:
            plans.append(self.batch.plan_report(job_states, done))
            self.batch.conclude(plans[0], f"<{self.minute}@batchq>", now)

        if self.decide(self.batch, report):
            [plan] = plans
            assert plan.send is (plan.kind == "initial" or bool(plan.changed))
            assert len(self.batch.reports) == reports_before + plan.send
            assert self.batch.status.value == plan.outcome.value
            assert (plan.outcome is BatchStatus.COMPLETED) is (done == len(self.jobs))

    @precondition(lambda self: self.batch.status is BatchStatus.FAILED)
    @rule()
    def request_update_reporting(self) -> None:
        unsettled = self.tally.total - self.tally.settled
        self.decide(self.batch, lambda now: self.batch.request_update_reporting("admin", "", unsettled, now))

    @precondition(lambda self: self.batch.status is not BatchStatus.DELETED)
    @rule(admin_decides=st.integers(min_value=0, max_value=7))
    def delete_batch(self, admin_decides: int) -> None:
        if admin_decides:
            return  # deleting ends a history; keep it rarer than the other decisions
        if self.decide(self.batch, lambda now: self.batch.delete("admin", "", now)):
            for job in self.jobs:
                if job.status is JobStatus.PENDING:
                    self.decide(job, lambda now, j=job: j.cancel("batch deleted", now))

    @rule(decision=st.sampled_from(["start", "start reporting", "report", "update reporting", "delete"]))
    def any_decision_on_the_batch(self, decision: str) -> None:
        """Whatever the batch's state: mostly refused, and a refusal must change nothing."""
        {
            "start": lambda: self.decide(self.batch, self.batch.start),
            "start reporting": lambda: self.decide(self.batch, lambda now: self.batch.start_reporting(self.tally, now)),
            "report": self.report_and_conclude,
            "update reporting": self.request_update_reporting,
            "delete": self.delete_again,
        }[decision]()

    def delete_again(self) -> None:
        if self.batch.status is BatchStatus.DELETED:  # (deleting a live batch is `delete_batch`)
            self.delete_batch(admin_decides=0)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def tally_is_in_step_with_the_jobs(self) -> None:
        assert +Counter(job.status for job in self.jobs) == +self.tally.counts

    @invariant()
    def event_log_keeps_the_promises(self) -> None:
        self.audit.read(self.log, {job.id: job.depends_on for job in self.jobs})

    @invariant()
    def attempts_spent_never_exceed_max_attempts(self) -> None:
        # `attempts_spent` counts from the last manual retry, so this holds at every step.
        for job in self.jobs:
            assert 0 <= job.attempts_spent <= job.max_attempts, (job.id, job.attempts_spent)

    @invariant()
    def replaying_recorded_events_rebuilds_an_equal_aggregate(self) -> None:
        for aggregate_id in self.touched:
            aggregate = self.batch if aggregate_id == self.batch.id else self.by_id[aggregate_id]
            assert state_of(replayed(aggregate)) == state_of(aggregate)
        self.touched.clear()

    def teardown(self) -> None:
        """Once per history: the same round trip through a real (in-memory) event store."""
        if not hasattr(self, "batch"):
            return
        app = InMemoryApplication()
        aggregates = [self.batch, *self.jobs]
        app.save(*aggregates)
        for aggregate in aggregates:
            assert app.repository.get(aggregate.id) == aggregate


class Audit:
    """Reads the global event log once, in order, as an auditor on `batchq.events` would."""

    def __init__(self) -> None:
        self.position = 0
        self.status: dict[UUID, str] = {}
        self.done: set[UUID] = set()
        self.cancelled: set[UUID] = set()  # cancelled and not retried since

    def read(self, log: list[tuple[UUID, Any]], depends_on: dict[UUID, list[UUID]]) -> None:
        for aggregate_id, event in log[self.position :]:
            name = type(event).__name__
            if name.startswith("Job"):
                self.job_event(aggregate_id, name, event, depends_on)
            elif name in ("BatchCompleted", "BatchFailed"):
                jobs = dict(self.status)  # the batch enters a final state only when all are settled
                assert all(state in SETTLED_JOB_STATES for state in jobs.values()), (name, jobs)
                if name == "BatchCompleted":
                    assert all(state == "COMPLETED" or job in self.done for job, state in jobs.items())
        self.position = len(log)

    def job_event(self, job: UUID, name: str, event: Any, depends_on: dict[UUID, list[UUID]]) -> None:
        if name == "JobStarted":
            assert job not in self.cancelled, f"{job} started after it was cancelled"
            waiting = [d for d in depends_on[job] if self.status[d] != "COMPLETED" and d not in self.done]
            assert not waiting, f"{job} started while {waiting} were not done"
        if name == "JobCancelled":
            self.cancelled.add(job)
        if name == "JobRetried":
            self.cancelled.discard(job)
            self.done.discard(job)
        if name == "JobSkipped" and event.as_done:
            self.done.add(job)
        new_status = {
            "JobSubmitted": "PENDING",
            "JobStarted": "PROCESSING",
            "JobCompleted": "COMPLETED",
            "JobFailed": "FAILED",
            "JobRetried": "PENDING",
            "JobCancelled": "CANCELLED",
            "JobSkipped": "SKIPPED",
            "JobAbandoned": "ABANDONED",
        }.get(name)
        if new_status:
            self.status[job] = new_status


BatchHistory.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_random_histories_keep_the_state_machine_promises = BatchHistory.TestCase
