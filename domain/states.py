"""The states of batches and jobs, and which of them are final."""

from __future__ import annotations

from enum import StrEnum


class BatchStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    REPORTING = "REPORTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    UPDATE_REPORTING = "UPDATE_REPORTING"
    DELETED = "DELETED"


class JobStatus(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"
    ABANDONED = "ABANDONED"


# A job in one of these states needs nothing more from the queue for its batch to
# be reported. FAILED counts: the batch reports it, and a retry reopens it.
SETTLED_JOB_STATES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.SKIPPED, JobStatus.ABANDONED}
)

# States that only `retry_job` with `override` leaves.
TERMINAL_JOB_STATES = frozenset({JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.SKIPPED, JobStatus.ABANDONED})

FINAL_BATCH_STATES = frozenset({BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.DELETED})


def is_done(status: JobStatus, skipped_as_done: bool = False) -> bool:
    """The job's work is done: COMPLETED, or SKIPPED because its item was already done.

    What a dependent waits for, and what a batch needs of every job to be COMPLETED.
    """
    return status is JobStatus.COMPLETED or (status is JobStatus.SKIPPED and skipped_as_done)
