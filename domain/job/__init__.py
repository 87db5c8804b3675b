"""The Job: one item of a batch, from submission to its final state.

`events.py` holds what a job's history is made of (and `JobError`, the one shape
of a failure); `aggregate.py` the decisions that record them.
"""

from domain.job.aggregate import Job, submit_job
from domain.job.events import (
    INFRASTRUCTURE_ERRORS,
    MAX_FREE_ATTEMPTS,
    OUTCOME_STATES,
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

__all__ = [
    "INFRASTRUCTURE_ERRORS",
    "MAX_FREE_ATTEMPTS",
    "OUTCOME_STATES",
    "Job",
    "JobAbandoned",
    "JobCancelled",
    "JobCompleted",
    "JobError",
    "JobFailed",
    "JobProgressed",
    "JobRerouted",
    "JobRetried",
    "JobSkipped",
    "JobStarted",
    "JobStuck",
    "JobSubmitted",
    "submit_job",
]
