"""A validated submission, and its jobs (inline or fetched), as the domain's draft of a batch."""

from __future__ import annotations

import uuid

from contracts.manifest import JobSpec, Submission
from domain.submission import BatchDraft, JobDraft


def to_draft(submission: Submission, jobs: list[JobSpec], fingerprint: str) -> BatchDraft:
    return BatchDraft(
        batch_id=submission.batch_id,
        tenant=submission.tenant,
        user_id=submission.user_id,
        trace_id=submission.trace_id or uuid.uuid4().hex,
        depositor_email=submission.depositor_email,
        fingerprint=fingerprint,
        tags=submission.tags.model_dump(mode="json"),
        jobs=[_job_draft(spec) for spec in jobs],
    )


def _job_draft(spec: JobSpec) -> JobDraft:
    # Positional, and empty params and dependencies not copied: this runs once per job of
    # the submission before its first job can start (100,000 jobs: 0.33 s keyword-built).
    return JobDraft(
        spec.job_uuid,
        spec.handler,
        dict(spec.params) if spec.params else {},
        str(spec.payload_url) if spec.payload_url else None,
        list(spec.depends_on) if spec.depends_on else [],
        spec.max_attempts,
        spec.item.model_dump() if spec.item else None,
    )
