"""The Job aggregate's decisions: one item of a batch, from submission to its final state.

PENDING → PROCESSING → COMPLETED | FAILED; FAILED → PENDING (retry);
PENDING → CANCELLED | SKIPPED; FAILED → ABANDONED; the final states leave only
by an explicit retry with `override`. Each decision checks the rule and records
one event; applying a recorded event never raises, so history always replays.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.base import BatchqAggregate
from domain.errors import IllegalTransitionError, RetryLimitError
from domain.job.events import (
    JobAbandoned,
    JobCancelled,
    JobCompleted,
    JobError,
    JobFailed,
    JobProgressed,
    JobRerouted,
    JobRetried,
    JobSkipped,
    JobStarted,
    JobStuck,
    JobSubmitted,
)
from domain.states import TERMINAL_JOB_STATES, JobStatus, is_done


class Job(BatchqAggregate):
    if TYPE_CHECKING:  # annotations only: a runtime annotation would make the aggregate a dataclass
        batch_id: UUID  # every job belongs to a batch (only the queue's events have none)
        handler: str
        params: dict[str, Any]
        payload_url: str | None
        depends_on: list[UUID]
        max_attempts: int
        item: dict[str, Any] | None
        tags: dict[str, Any]
        pool: str
        status: JobStatus
        attempts: int
        attempt_floor: int
        free_attempts: int
        progress: float | None
        error: JobError | None
        result: Any
        worker_id: str | None
        not_before: datetime | None
        stuck_attempt: int
        skipped_because: dict[str, Any] | None

    @property
    def job_uuid(self) -> UUID:
        return self.id

    @property
    def attempts_spent(self) -> int:
        """Attempts that count against `max_attempts` since the last manual retry."""
        return self.attempts - self.attempt_floor - self.free_attempts

    @property
    def done(self) -> bool:
        return is_done(self.status, self.skipped_as_done)

    @property
    def skipped_as_done(self) -> bool:
        return self.status is JobStatus.SKIPPED and bool((self.skipped_because or {}).get("as_done"))

    def _refuse(self, action: str, why: str = "") -> IllegalTransitionError:
        return IllegalTransitionError("job", self.id, self.status.value, action, why)

    def _require(self, status: JobStatus, action: str) -> None:
        if self.status is not status:
            raise self._refuse(action)

    def _require_current_attempt(self, attempt: int, action: str) -> None:
        self._require(JobStatus.PROCESSING, action)
        if attempt != self.attempts:
            raise self._refuse(action, f"attempt {attempt} is no longer current")

    def start(self, worker_id: str, now: datetime, pool: str = "default") -> None:
        self._require(JobStatus.PENDING, "start")
        if not self.due(now):
            raise self._refuse("start", f"its retry is not due until {self.not_before}")
        self._record(JobStarted, now, worker_id=worker_id, attempt=self.attempts + 1, pool=pool)

    def reroute(self, pool: str, reason: str, now: datetime) -> None:
        self._require(JobStatus.PENDING, "reroute")
        if pool != self.pool:
            self._record(JobRerouted, now, pool=pool, reason=reason)

    def due(self, now: datetime) -> bool:
        """Not waiting out a retry backoff."""
        return self.not_before is None or self.not_before <= now

    def report_progress(self, attempt: int, progress: float, now: datetime, message: str = "") -> None:
        self._require_current_attempt(attempt, "report progress")
        bounded = min(1.0, max(0.0, progress))
        self._record(JobProgressed, now, attempt=attempt, progress=bounded, message=message)

    def complete(self, attempt: int, result: Any, now: datetime) -> None:
        self._require_current_attempt(attempt, "complete")
        self._record(JobCompleted, now, attempt=attempt, result=result)

    def fail(self, attempt: int, error: JobError, now: datetime) -> None:
        self._require_current_attempt(attempt, "fail")
        self._record(JobFailed, now, attempt=attempt, error=error.as_dict())

    def flag_stuck(self, attempt: int, silent_seconds: float, now: datetime) -> None:
        """Fence off a silent attempt: flagged, then failed, so a late result is refused."""
        self._require_current_attempt(attempt, "flag as stuck")
        self._record(JobStuck, now, attempt=attempt, silent_seconds=silent_seconds)
        reason = f"no heartbeat from worker {self.worker_id} for {silent_seconds:.0f}s"
        self._record(JobFailed, now, attempt=attempt, error=JobError.infrastructure("JOB_STUCK", reason).as_dict())

    def lose_worker(self, attempt: int, now: datetime) -> None:
        """The worker running this attempt died (its lock vanished with its connection)."""
        self._require_current_attempt(attempt, "record a lost worker")
        reason = f"worker {self.worker_id} died during attempt {attempt}"
        self._record(JobFailed, now, attempt=attempt, error=JobError.infrastructure("WORKER_LOST", reason).as_dict())

    def retry(self, requested_by: str, reason: str, override: bool, now: datetime) -> None:
        """An explicit retry: FAILED runs again; a final state only with `override`."""
        if self.status in TERMINAL_JOB_STATES and not override:
            raise self._refuse("retry", "retry needs override")
        if self.status not in TERMINAL_JOB_STATES and self.status is not JobStatus.FAILED:
            raise self._refuse("retry")
        self._record(JobRetried, now, requested_by=requested_by, reason=reason, override=override, automatic=False)

    def retry_automatically(self, not_before: datetime, now: datetime) -> None:
        self._require(JobStatus.FAILED, "retry automatically")
        if not self.may_retry_automatically:
            raise RetryLimitError(self.id, self.attempts_spent, self.max_attempts)
        self._record(
            JobRetried,
            now,
            requested_by="batchq",
            reason=f"automatic retry after {self.error_code}",
            override=False,
            automatic=True,
            not_before=not_before,
        )

    def cancel(self, reason: str, now: datetime, cause_job_uuid: UUID | None = None) -> None:
        """A waiting job, or a running one: its attempt is fenced off, so a result that comes later is refused."""
        if self.status not in (JobStatus.PENDING, JobStatus.PROCESSING):
            raise self._refuse("cancel")
        attempt = self.attempts if self.status is JobStatus.PROCESSING else 0
        self._record(JobCancelled, now, reason=reason, cause_job_uuid=cause_job_uuid, attempt=attempt)

    def skip(self, earlier_job_uuid: UUID, earlier_status: str, now: datetime) -> None:
        self._require(JobStatus.PENDING, "skip")
        as_done = earlier_status == JobStatus.COMPLETED
        item = self.item or {}
        reason = (
            f"item {item.get('key')} v{item.get('version')} for {item.get('target')} "
            f"is {earlier_status} in job {earlier_job_uuid}"
        )
        self._record(
            JobSkipped,
            now,
            reason=reason,
            earlier_job_uuid=earlier_job_uuid,
            earlier_status=str(earlier_status),
            as_done=as_done,
        )

    def abandon(self, now: datetime) -> None:
        """Its automatic retries are spent: the next automatic one is refused RETRY_LIMIT; an admin may retry."""
        self._require(JobStatus.FAILED, "abandon")
        refusal = RetryLimitError(self.id, self.attempts_spent, self.max_attempts)
        self._record(JobAbandoned, now, reason=refusal.reason, code=refusal.code)

    @property
    def error_code(self) -> str:
        return self.error.code if self.error else ""

    @property
    def may_retry_automatically(self) -> bool:
        return self.status is JobStatus.FAILED and self.attempts_spent < self.max_attempts


def submit_job(
    *,
    job_uuid: UUID,
    batch_id: UUID,
    tenant: str,
    user_id: str,
    trace_id: str,
    now: datetime,
    handler: str = "noop",
    params: dict[str, Any] | None = None,
    payload_url: str | None = None,
    depends_on: list[UUID] | None = None,
    max_attempts: int = 1,
    item: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    pool: str = "default",
) -> Job:
    """A new PENDING job (QUEUE-001: ids, provenance, schema version and time fixed at birth)."""
    return Job._begin(
        JobSubmitted,
        job_uuid,
        now,
        tenant=tenant,
        user_id=user_id,
        trace_id=trace_id,
        batch_id=batch_id,
        handler=handler,
        params=params or {},
        payload_url=payload_url,
        depends_on=list(depends_on or []),
        max_attempts=max_attempts,
        item=item,
        tags=tags or {},
        pool=pool,
    )
