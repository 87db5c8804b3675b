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

from domain.dependencies import is_ready
from domain.errors import DomainError
from domain.job import Job, JobError
from domain.queue import QUEUE_ID
from domain.states import JobStatus
from services.adapters.store import ConflictError, EventStore


@dataclass(frozen=True)
class Claimable:
    jobs: dict[UUID, Job]
    paused: bool
    queue_version: int = 0  # the claims are recorded only if the queue is still at this version


@dataclass(frozen=True)
class Completed:
    result: Any


@dataclass(frozen=True)
class Failed:
    error: JobError


@dataclass(frozen=True)
class Progressed:
    fraction: float
    message: str


Outcome = Completed | Failed | Progressed


class WorkerApplication:
    def __init__(
        self, store: EventStore, worker_id: str, clock: Callable[[], datetime], pool: str = "default"
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.clock = clock
        self.pool = pool  # recorded in every JobStarted: a canary's runs are told apart by it
        self.fenced: set[tuple[UUID, int]] = set()  # attempts whose append was refused: see `record`

    def claimable(self, job_uuids: list[UUID]) -> Claimable:
        """Of these jobs, the ones that may start now; nothing while the queue is paused.

        A job message is only a hint: a stale, early or stray copy finds its job
        already claimed, finished, waiting out a retry backoff or waiting for a
        dependency, and is dropped (the dispatcher sends a new one when it is due).
        """
        now = self.clock()
        found = self.store.get_many([QUEUE_ID, *job_uuids])
        queue = found.pop(QUEUE_ID, None)
        if queue is not None and queue.paused:
            return Claimable({}, paused=True)
        queue_version = queue.version if queue is not None else 0
        pending = {i: j for i, j in found.items() if j.status is JobStatus.PENDING and j.due(now)}
        return Claimable(self._ready(pending), paused=False, queue_version=queue_version)

    def _ready(self, pending: dict[UUID, Job]) -> dict[UUID, Job]:
        """The jobs whose dependencies are still done, by the domain's one rule (`is_ready`).

        The dispatcher decides readiness; this is a guard against a race, not a
        second policy: a dependency may have been retried since the message was sent.
        """
        dependencies = self.store.get_many({d for job in pending.values() for d in job.depends_on})

        def done(dep: UUID) -> bool:
            return dep in dependencies and dependencies[dep].done

        return {i: j for i, j in pending.items() if is_ready(j.depends_on, done)}

    def start(self, jobs: list[Job], queue_version: int) -> list[Job]:
        """Claim these jobs; return the ones this worker won (none if the queue paused meanwhile)."""
        now = self.clock()
        for job in jobs:
            job.start(self.worker_id, now, self.pool)
        return self._save_each_that_can(jobs, unchanged={QUEUE_ID: queue_version})

    def record(self, outcomes: list[tuple[Job, Outcome]]) -> list[bool]:
        """Record outcomes; False for one whose attempt is no longer current (refused).

        An attempt refused once stays refused: its in-memory job has moved past the
        version the store refused, so a later append of it would find its versions
        free and slip past the fence (a cancelled or lost attempt completing after all).
        """
        now = self.clock()
        accepted: dict[int, bool] = {}
        changed: list[Job] = []
        for index, (job, outcome) in enumerate(outcomes):
            if (job.id, job.attempts) in self.fenced:
                accepted[index] = False
                continue
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
        for job, outcome in outcomes:
            if not isinstance(outcome, Progressed):
                self.fenced.discard((job.id, job.attempts))  # the attempt's last word: forget it
        return [accepted.get(i, id(job) in saved) for i, (job, _) in enumerate(outcomes)]

    def _save_each_that_can(self, jobs: list[Job], unchanged: dict[UUID, int] | None = None) -> list[Job]:
        """One append for the group; if any conflicts, each on its own."""
        unique = list({id(j): j for j in jobs}.values())
        # Collected first: a failed append has already taken the aggregates' pending events.
        events = {id(j): j.collect_events() for j in unique}
        try:
            self.store.save(*(e for j in unique for e in events[id(j)]), unchanged=unchanged)
            return unique
        except ConflictError:
            pass
        saved = []
        for job in unique:
            try:
                self.store.save(*events[id(job)], unchanged=unchanged)
                saved.append(job)
            except ConflictError:
                self.fenced.add((job.id, job.attempts))  # another claimer won, or the attempt was fenced off
        return saved
