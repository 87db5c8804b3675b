"""What a status report says, and whether an update report is owed at all.

A report is owed on entering REPORTING; in UPDATE_REPORTING only when some job's
state differs from what the last report told the depositor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.states import BatchStatus


@dataclass(frozen=True)
class ReportPlan:
    kind: str  # "initial" or "update"
    outcome: BatchStatus  # COMPLETED or FAILED
    job_states: dict[str, str]
    changed: list[str]  # job ids whose state differs from the last report
    send: bool


def changed_jobs(last_reported: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    return sorted(job for job, state in current.items() if last_reported.get(job) != state)


def outcome_of(job_count: int, done_count: int) -> BatchStatus:
    """COMPLETED when every job is COMPLETED or SKIPPED as already done, else FAILED."""
    return BatchStatus.COMPLETED if done_count == job_count else BatchStatus.FAILED
