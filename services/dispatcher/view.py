"""The dispatcher's own view of every live batch: job states, dependencies, tallies.

Rebuilt from the event store at start-up, then kept current from the events the
dispatcher records itself and the job outcomes it hears on `batchq.events`. Each
job entry remembers the version it reflects, so an older or repeated event never
moves a tally twice; reactions read only this view, never a batch's history.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from domain.batch import Batch
from domain.job import Job
from domain.quotas import Scope, Usage
from domain.states import BatchStatus, JobStatus
from domain.tally import JobTally


@dataclass(slots=True)
class JobEntry:
    batch_id: UUID
    status: JobStatus
    version: int
    depends_on: list[UUID]
    pool: str
    done: bool = False  # COMPLETED, or SKIPPED because the item was already done
    not_before: datetime | None = None


@dataclass(slots=True)
class BatchEntry:
    status: BatchStatus
    tally: JobTally
    job_uuids: list[UUID] = field(default_factory=list)
    tenant: str = ""
    user_id: str = ""  # the depositor

    @property
    def active_jobs(self) -> int:
        """Jobs not settled, counting those of an intake a crash cut short that are yet to be made."""
        return self.tally.total - self.tally.settled


class DispatchView:
    def __init__(self) -> None:
        self.jobs: dict[UUID, JobEntry] = {}
        self.batches: dict[UUID, BatchEntry] = {}
        self.dependents: dict[UUID, list[UUID]] = {}
        # Batches submitted per (scope, tenant or depositor, UTC day), for the daily quota.
        self.submitted: Counter[tuple[Scope, str, date]] = Counter()

    def add_batch(self, batch: Batch) -> None:
        tally = JobTally(total=len(batch.job_uuids))
        self.batches[batch.id] = BatchEntry(batch.status, tally, batch.job_uuids, batch.tenant, batch.user_id)

    def count_submission(self, tenant: str, user_id: str, day: date) -> None:
        self.submitted[(Scope.TENANT, tenant, day)] += 1
        self.submitted[(Scope.USER, user_id, day)] += 1

    def usage(self, scope: Scope, subject: str, day: date) -> Usage:
        """What a tenant or a depositor has now: jobs not yet settled in live batches, batches that day."""
        owned = (e for e in self.batches.values() if (e.tenant if scope is Scope.TENANT else e.user_id) == subject)
        return Usage(sum(e.active_jobs for e in owned), self.submitted[(scope, subject, day)])

    def set_batch_status(self, batch_id: UUID, status: BatchStatus) -> None:
        entry = self.batches.get(batch_id)
        if entry is not None:
            entry.status = status

    def track(self, job: Job) -> bool:
        """Take in a job's current state; False if the view already knew this or later."""
        entry = self.jobs.get(job.id)
        if entry is None:
            entry = JobEntry(job.batch_id, job.status, 0, job.depends_on, job.pool)  # type: ignore[arg-type]
            self.jobs[job.id] = entry
            for dep in job.depends_on:
                self.dependents.setdefault(dep, []).append(job.id)
            self._count(entry, None)
        return self._move(entry, job.status, job.version, job.done, job.not_before)

    def observe_completion(self, job_uuid: UUID, version: int) -> bool:
        """A JobCompleted heard on the bus, taken in without loading the job."""
        entry = self.jobs.get(job_uuid)
        return entry is not None and self._move(entry, JobStatus.COMPLETED, version, True, None)

    def _move(self, entry: JobEntry, status: JobStatus, version: int, done: bool, not_before: datetime | None) -> bool:
        if version <= entry.version:
            return False
        old, entry.status, entry.version = entry.status, status, version
        entry.done, entry.not_before = done, not_before
        self._count(entry, old)
        return True

    def _count(self, entry: JobEntry, old: JobStatus | None) -> None:
        batch = self.batches.get(entry.batch_id)
        if batch is not None:
            batch.tally.move(old, entry.status)

    def forget_batch(self, batch_id: UUID) -> None:
        """Let go of a batch whose jobs have all settled; a retry takes it back in."""
        entry = self.batches.pop(batch_id, None)
        if entry is None:
            return
        for job_uuid in entry.job_uuids:
            job = self.jobs.pop(job_uuid, None)
            if job is not None:
                for dep in job.depends_on:
                    self.dependents.pop(dep, None)

    def status_of(self, job_uuid: UUID) -> JobStatus:
        return self.jobs[job_uuid].status

    def done(self, job_uuid: UUID) -> bool:
        """False for a job of the batch not yet appended (a later part of its intake)."""
        entry = self.jobs.get(job_uuid)
        return entry is not None and entry.done

    def dependents_of(self, job_uuid: UUID) -> list[UUID]:
        return self.dependents.get(job_uuid, [])

    def not_completed(self, batch_id: UUID) -> list[UUID]:
        """The batch's jobs whose state is not COMPLETED (SKIPPED ones included)."""
        jobs = self.jobs
        return [j for j in self.batches[batch_id].job_uuids if jobs[j].status is not JobStatus.COMPLETED]

    def jobs_of(self, batch_id: UUID) -> list[UUID]:
        return self.batches[batch_id].job_uuids
