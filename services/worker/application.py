"""The worker's store operations: claim jobs, and record their outcomes, in groups.

A claim is `JobStarted` appended at the job's expected version: of two claimers
one loses. An outcome is appended at the version the claim left, so an attempt
that was fenced off meanwhile (stuck, orphaned) is refused, never recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import DomainError
from domain.job import Job
from domain.states import JobStatus
from services.adapters.store import ConflictError, EventStore


@dataclass(frozen=True)
class Completed:
    result: Any


@dataclass(frozen=True)
class Failed:
    error: dict[str, Any]


@dataclass(frozen=True)
class Progressed:
    fraction: float
    message: str


Outcome = Completed | Failed | Progressed


class WorkerApplication:
    def __init__(self, store: EventStore, worker_id: str, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.worker_id = worker_id
        self.clock = clock

    def pending(self, job_uuids: list[UUID]) -> dict[UUID, Job]:
        """The jobs among these that may still be claimed (a stale message finds none)."""
        return {i: j for i, j in self.store.get_many(job_uuids).items() if j.status is JobStatus.PENDING}

    def start(self, jobs: list[Job]) -> list[Job]:
        """Claim these jobs; return the ones this worker won."""
        now = self.clock()
        for job in jobs:
            job.start(self.worker_id, now)
        return self._save_each_that_can(jobs)

    def record(self, outcomes: list[tuple[Job, Outcome]]) -> list[bool]:
        """Record outcomes; False for one whose attempt is no longer current (refused)."""
        now = self.clock()
        accepted: dict[int, bool] = {}
        changed: list[Job] = []
        for index, (job, outcome) in enumerate(outcomes):
            try:
                if isinstance(outcome, Completed):
                    job.complete(job.attempts, outcome.result, now)
                elif isinstance(outcome, Failed):
                    job.fail(job.attempts, outcome.error, now)
                else:
                    job.report_progress(job.attempts, outcome.fraction, now, outcome.message)
            except DomainError:
                accepted[index] = False
                continue
            changed.append(job)
        saved = {id(j) for j in self._save_each_that_can(changed)}
        return [accepted.get(i, id(job) in saved) for i, (job, _) in enumerate(outcomes)]

    def _save_each_that_can(self, jobs: list[Job]) -> list[Job]:
        """One append for the group; if any conflicts, each on its own."""
        unique = list({id(j): j for j in jobs}.values())
        # Collected first: a failed append has already taken the aggregates' pending events.
        events = {id(j): j.collect_events() for j in unique}
        try:
            self.store.save(*(e for j in unique for e in events[id(j)]))
            return unique
        except ConflictError:
            pass
        saved = []
        for job in unique:
            try:
                self.store.save(*events[id(job)])
                saved.append(job)
            except ConflictError:
                continue  # another claimer won, or the attempt was fenced off
        return saved
