"""Builders for domain tests: fixed times, readable ids, drafts, and jobs in a given state.

Every time is passed in explicitly (no clock), every id is derived from a small
number, so a failing test names `job 00000000-…-0003` rather than a random UUID.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder

from domain.job import Job, JobError, submit_job
from domain.states import JobStatus
from domain.submission import BatchDraft, JobDraft
from services.adapters.transcodings import register_batchq_transcodings

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
BATCH_ID = UUID("6f1e0c1a-4a55-4d0f-9c2e-2f7f3b1c9a10")
TENANT = "acme"
USER_ID = "depositor-7"
TRACE_ID = "trace-1"
HANDLER_ERROR = JobError("HANDLER_ERROR", "boom")


def at(minute: int, second: int = 0) -> datetime:
    """A fixed moment `minute` minutes after T0."""
    return T0 + timedelta(minutes=minute, seconds=second)


def job_id(n: int) -> UUID:
    return UUID(int=n)


def draft(jobs: Iterable[JobDraft], batch_id: UUID = BATCH_ID, tenant: str = TENANT) -> BatchDraft:
    return BatchDraft(
        batch_id=batch_id,
        tenant=tenant,
        user_id=USER_ID,
        trace_id=TRACE_ID,
        depositor_email="depositor@example.org",
        fingerprint="sha256:manifest",
        jobs=list(jobs),
    )


def new_job(*, n: int = 1, max_attempts: int = 1, item: dict[str, Any] | None = None) -> Job:
    return submit_job(
        job_uuid=job_id(n),
        batch_id=BATCH_ID,
        tenant=TENANT,
        user_id=USER_ID,
        trace_id=TRACE_ID,
        now=T0,
        max_attempts=max_attempts,
        item=item,
    )


def job_in(status: JobStatus, *, max_attempts: int = 1) -> Job:
    """Given: a job whose history brought it to `status`; its events are already collected."""
    job = new_job(max_attempts=max_attempts)
    if status is not JobStatus.PENDING and status not in (JobStatus.CANCELLED, JobStatus.SKIPPED):
        job.start("worker-1", at(1))
    if status is JobStatus.COMPLETED:
        job.complete(1, {"sha256": "ab"}, at(2))
    if status in (JobStatus.FAILED, JobStatus.ABANDONED):
        job.fail(1, HANDLER_ERROR, at(2))
    if status is JobStatus.ABANDONED:
        job.abandon(at(3))
    if status is JobStatus.CANCELLED:
        job.cancel("dependency failed", at(1), cause_job_uuid=job_id(99))
    if status is JobStatus.SKIPPED:
        job.skip(job_id(99), "COMPLETED", at(1))
    assert job.status is status
    job.collect_events()
    return job


def new_events(aggregate: Aggregate) -> list[str]:
    """Then: the names of the events recorded since the last look (and forget them)."""
    return [type(event).__name__ for event in aggregate.collect_events()]


class InMemoryApplication(Application):
    """An `eventsourcing` application in memory that transcodes events as the store does."""

    def __init__(self) -> None:
        super().__init__(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_batchq_transcodings(transcoder)
