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
        jobs=[
            JobDraft(
                job_uuid=spec.job_uuid,
                handler=spec.handler,
                params=dict(spec.params),
                payload_url=str(spec.payload_url) if spec.payload_url else None,
                depends_on=list(spec.depends_on),
                max_attempts=spec.max_attempts,
                item=spec.item.model_dump() if spec.item else None,
            )
            for spec in jobs
        ],
    )
