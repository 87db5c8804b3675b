"""The Job aggregate's events, and the one shape of a job's error.

Each event's `apply` evolves a `Job`; applying never raises, so a history
recorded under older rules always replays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.base import BatchqCreated, BatchqEvent, pinned
from domain.states import JobStatus

if TYPE_CHECKING:
    from domain.job.aggregate import Job


@dataclass(frozen=True)
class JobError:
    """Why an attempt failed: the contract's `code`, `reason`, `traceback` and `stage`.

    Stored in `JobFailed.error` as a plain mapping (the stored shape predates
    this type), read back into this type by `JobFailed.apply`.
    """

    code: str
    reason: str
    traceback: str = ""
    stage: str = "execution"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> JobError:
        return cls(
            code=str(stored.get("code", "")),
            reason=str(stored.get("reason", "")),
            traceback=str(stored.get("traceback") or ""),
            stage=str(stored.get("stage") or "execution"),
        )

    @classmethod
    def infrastructure(cls, code: str, reason: str) -> JobError:
        """A failure of the platform, not of the job's handler."""
        return cls(code=code, reason=reason)


# Failures that are the platform's fault, not the job's: they re-run the job without
# spending its attempts, up to this many times (a job that kills every worker stops).
INFRASTRUCTURE_ERRORS = frozenset({"WORKER_LOST", "JOB_STUCK"})
MAX_FREE_ATTEMPTS = 3


@pinned
class JobSubmitted(BatchqCreated):
    handler: str
    params: dict[str, Any]
    payload_url: str | None
    depends_on: list[UUID]
    max_attempts: int
    item: dict[str, Any] | None
    tags: dict[str, Any]
    pool: str

    def apply(self, job: Job) -> None:
        super().apply(job)
        job.handler = self.handler
        job.params = self.params
        job.payload_url = self.payload_url
        job.depends_on = self.depends_on
        job.max_attempts = self.max_attempts
        job.item = self.item
        job.tags = self.tags
        job.pool = self.pool
        job.status = JobStatus.PENDING
        job.attempts = 0
        job.attempt_floor = 0
        job.free_attempts = 0
        job.progress = None
        job.error = None
        job.result = None
        job.worker_id = None
        job.not_before = None
        job.stuck_attempt = 0
        job.skipped_because = None


@pinned
class JobStarted(BatchqEvent):
    """Version 2 added `pool` (the canary): a version 1 event is read as started on `default`."""

    class_version = 2
    worker_id: str
    attempt: int
    pool: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["pool"] = "default"

    def apply(self, job: Job) -> None:
        job.status = JobStatus.PROCESSING
        job.attempts = self.attempt
        job.worker_id = self.worker_id
        job.progress = None
        job.not_before = None


@pinned
class JobRerouted(BatchqEvent):
    """A waiting job sent to another worker pool (an aborted canary sends its jobs back to `default`)."""

    pool: str
    reason: str = ""

    def apply(self, job: Job) -> None:
        job.pool = self.pool


@pinned
class JobProgressed(BatchqEvent):
    attempt: int
    progress: float
    message: str = ""

    def apply(self, job: Job) -> None:
        job.progress = self.progress


@pinned
class JobCompleted(BatchqEvent):
    attempt: int
    result: Any = None

    def apply(self, job: Job) -> None:
        job.status = JobStatus.COMPLETED
        job.result = self.result
        job.error = None
        job.progress = 1.0


@pinned
class JobFailed(BatchqEvent):
    """`error` holds `code`, `reason`, `traceback` and `stage`."""

    attempt: int
    error: dict[str, Any]

    def apply(self, job: Job) -> None:
        job.status = JobStatus.FAILED
        job.error = JobError.from_dict(self.error)
        # The platform's failures are free, up to a point: a job that keeps killing
        # its workers starts spending attempts like any other failure.
        if job.error.code in INFRASTRUCTURE_ERRORS and job.free_attempts < MAX_FREE_ATTEMPTS:
            job.free_attempts += 1


@pinned
class JobRetried(BatchqEvent):
    requested_by: str
    reason: str
    override: bool
    automatic: bool
    not_before: datetime | None = None

    def apply(self, job: Job) -> None:
        if not self.automatic:
            job.attempt_floor = job.attempts - job.free_attempts
        job.status = JobStatus.PENDING
        job.not_before = self.not_before
        job.progress = None
        job.skipped_because = None


@pinned
class JobCancelled(BatchqEvent):
    """Cancelled while waiting, or while running (`attempt`: the attempt it fenced off; 0 if none ran)."""

    class_version = 2  # version 2 added `attempt` (running jobs became cancellable)
    reason: str
    cause_job_uuid: UUID | None = None
    attempt: int = 0

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["attempt"] = 0  # only waiting jobs could be cancelled then

    def apply(self, job: Job) -> None:
        job.status = JobStatus.CANCELLED


@pinned
class JobSkipped(BatchqEvent):
    """Item idempotency: `earlier_job_uuid` already owns this (target, key, version)."""

    reason: str
    earlier_job_uuid: UUID
    earlier_status: str
    as_done: bool

    def apply(self, job: Job) -> None:
        job.status = JobStatus.SKIPPED
        job.skipped_because = {
            "reason": self.reason,
            "earlier_job_uuid": self.earlier_job_uuid,
            "earlier_status": self.earlier_status,
            "as_done": self.as_done,
        }


@pinned
class JobAbandoned(BatchqEvent):
    reason: str
    code: str = "RETRY_LIMIT"  # added later: events stored before it load with the default

    def apply(self, job: Job) -> None:
        job.status = JobStatus.ABANDONED


@pinned
class JobStuck(BatchqEvent):
    """A live worker showed no heartbeat for too long; the attempt is fenced off."""

    attempt: int
    silent_seconds: float

    def apply(self, job: Job) -> None:
        job.stuck_attempt = self.attempt


# The state each outcome event leaves a job in: what a reader following only
# outcomes (a progress bar) needs, without replaying each job's whole history.
OUTCOME_STATES: dict[type[BatchqEvent], JobStatus] = {
    JobCompleted: JobStatus.COMPLETED,
    JobFailed: JobStatus.FAILED,
    JobCancelled: JobStatus.CANCELLED,
    JobSkipped: JobStatus.SKIPPED,
    JobAbandoned: JobStatus.ABANDONED,
    JobRetried: JobStatus.PENDING,
}
