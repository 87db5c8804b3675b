"""Job progression: given where a job stands, what the engine does next (a pure policy).

The dispatcher used to decide this inline while it loaded and saved jobs, so the
rules could only be tested end to end. Here they are one function of plain facts:
the service gathers the facts (from its view and the store), calls `next_step`,
and carries the step out. The backoff delay of a retry is `domain.retry`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from domain.states import JobStatus


class Step(Enum):
    NOTHING = "nothing"
    DISPATCH = "dispatch"  # ready, and any backoff is over
    WAKE_LATER = "wake later"  # ready, but its backoff (`not_before`) is still ahead
    CANCEL = "cancel"  # its batch was deleted while it waited
    RETRY_AUTOMATICALLY = "retry automatically"
    ABANDON = "abandon"  # automatic retries spent: RETRY_LIMIT, an admin may retry
    CANCEL_DEPENDENTS = "cancel dependents"
    RELEASE_DEPENDENTS = "release dependents"  # done: its waiting dependents may now be ready


@dataclass(frozen=True)
class Situation:
    """The facts about one job that its next step depends on."""

    status: JobStatus
    done: bool = False  # domain.states.is_done
    batch_deleted: bool = False
    ready: bool = False  # every dependency done (only asked of PENDING jobs)
    not_before: datetime | None = None
    may_retry_automatically: bool = False
    max_attempts: int = 1


def next_step(job: Situation, now: datetime) -> Step:
    if job.status is JobStatus.PENDING:
        if job.batch_deleted:
            return Step.CANCEL
        if not job.ready:
            return Step.NOTHING  # a dependency will release it
        return Step.WAKE_LATER if job.not_before is not None and job.not_before > now else Step.DISPATCH
    if job.status is JobStatus.FAILED:
        if job.may_retry_automatically:
            return Step.RETRY_AUTOMATICALLY
        # With one attempt a failure waits for an admin; with more, the budget is spent.
        return Step.ABANDON if job.max_attempts > 1 else Step.CANCEL_DEPENDENTS
    if job.done:
        return Step.RELEASE_DEPENDENTS
    if job.status in (JobStatus.CANCELLED, JobStatus.SKIPPED, JobStatus.ABANDONED):
        return Step.CANCEL_DEPENDENTS
    return Step.NOTHING  # PROCESSING: its worker reports the outcome
