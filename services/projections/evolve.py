"""How one stored event changes the read model's rows: plain dicts in, plain dicts changed.

The projector loads the rows a page of events touches, folds the page here, and
writes the rows back with the new position in one transaction. Keeping the fold
free of SQL makes "rebuilt from 0 equals live" a property of one function, and
the statuses here mirror the aggregates' own `apply` methods (domain/job.py,
domain/batch.py): an event the read model does not know only lands in the index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent

from services.adapters.envelopes import aggregate_type

Row = dict[str, Any]
UserRef = Callable[[str, str], str | None]  # (tenant, user_id) → keyed hash; None once erased

JOB_STATUS_AFTER = {
    "JobSubmitted": "PENDING",
    "JobStarted": "PROCESSING",
    "JobCompleted": "COMPLETED",
    "JobFailed": "FAILED",
    "JobRetried": "PENDING",
    "JobCancelled": "CANCELLED",
    "JobSkipped": "SKIPPED",
    "JobAbandoned": "ABANDONED",
}
BATCH_STATUS_AFTER = {
    "BatchSubmitted": "PENDING",
    "BatchStarted": "PROCESSING",
    "BatchReportingStarted": "REPORTING",
    "BatchCompleted": "COMPLETED",
    "BatchFailed": "FAILED",
    "BatchUpdateReportingRequested": "UPDATE_REPORTING",
    "BatchDeleted": "DELETED",
}
# The read model holds no personal data (QUEUE-022): a job's error by its code and stage only,
# the depositor by the key table's keyed hash (`user_ref`, joined to the key table to be shown).
PUBLIC_ERROR_PARTS = ("code", "stage")


@dataclass
class Page:
    """The rows one page of events touches, as loaded, then as changed; count deltas; index rows."""

    jobs: dict[UUID, Row] = field(default_factory=dict)
    batches: dict[UUID, Row] = field(default_factory=dict)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    index: list[Row] = field(default_factory=list)
    changed_jobs: set[UUID] = field(default_factory=set)
    changed_batches: set[UUID] = field(default_factory=set)


def apply(page: Page, position: int, event: DomainEvent, user_ref: UserRef) -> None:
    """Fold one event into the page; `user_ref` names a depositor by the key table's keyed hash."""
    name = type(event).__name__
    page.index.append(index_row(position, name, event))
    if name in JOB_STATUS_AFTER or name in ("JobProgressed", "JobStuck"):
        _job(page, position, name, event)
    elif name in BATCH_STATUS_AFTER or name == "BatchPersonalDataExpired":
        _batch(page, position, name, event, user_ref)


def index_row(position: int, name: str, event: DomainEvent) -> Row:
    fields = vars(event)
    code = None
    if name == "JobFailed":
        code = fields["error"].get("code")
    elif name == "JobAbandoned":
        code = fields.get("code")
    return {
        "position": position,
        "aggregate_id": event.originator_id,
        "aggregate_type": aggregate_type(event),
        "batch_id": fields.get("batch_id"),
        "type": name,
        "tenant": fields.get("tenant", ""),
        "occurred_at": event.timestamp,
        "error_code": code,
    }


def _job(page: Page, position: int, name: str, event: Any) -> None:
    job_uuid, at = event.originator_id, event.timestamp
    if name == "JobSubmitted":
        page.jobs[job_uuid] = new_job(event)
        page.counts[(event.tenant, "PENDING")] += 1
    elif job_uuid not in page.jobs:
        return  # history without its JobSubmitted cannot happen in one store; never fail the fold on it
    else:
        row = page.jobs[job_uuid]
        _job_fields(row, name, event, at)
        status = JOB_STATUS_AFTER.get(name, row["status"])
        if status != row["status"]:
            page.counts[(row["tenant"], row["status"])] -= 1
            page.counts[(row["tenant"], status)] += 1
            row["status"] = status
    page.jobs[job_uuid].update(updated_at=at, position=position)
    page.changed_jobs.add(job_uuid)


def new_job(event: Any) -> Row:
    return {
        "job_uuid": event.originator_id,
        "batch_id": event.batch_id,
        "tenant": event.tenant,
        "pool": event.pool,
        "handler": event.handler,
        "status": "PENDING",
        "attempts": 0,
        "progress": None,
        "error": None,
        "pending_since": event.timestamp,
        "started_at": None,
        "duration_seconds": None,
    }


def _job_fields(row: Row, name: str, event: Any, at: datetime) -> None:
    """The columns besides the status, as the Job aggregate's `apply` sets them."""
    if name == "JobStarted":
        row.update(attempts=event.attempt, progress=None, started_at=at, pending_since=None)
    elif name == "JobProgressed":
        row["progress"] = event.progress
    elif name == "JobCompleted":
        row.update(progress=1.0, error=None, duration_seconds=_since(row["started_at"], at))
    elif name == "JobFailed":
        error = {part: event.error.get(part) for part in PUBLIC_ERROR_PARTS}
        row.update(error=error, duration_seconds=_since(row["started_at"], at))
    elif name == "JobRetried":
        # A retry waiting out its backoff is not late yet: it waits from when it is due.
        due = event.not_before if event.not_before and event.not_before > at else at
        row.update(progress=None, pending_since=due)
    elif name in ("JobCancelled", "JobSkipped", "JobAbandoned"):
        row["pending_since"] = None


def _since(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, (end - start).total_seconds())


def _batch(page: Page, position: int, name: str, event: Any, user_ref: UserRef) -> None:
    batch_id, at = event.originator_id, event.timestamp
    if name == "BatchSubmitted":
        page.batches[batch_id] = {
            "batch_id": batch_id,
            "tenant": event.tenant,
            "user_ref": user_ref(event.tenant, event.user_id),
            "pool": event.pool,
            "job_count": len(event.job_uuids),
            "submitted_at": at,
            "retention_days": event.retention_days,
            "personal_data_expired": False,
        }
    elif batch_id not in page.batches:
        return
    if name == "BatchPersonalDataExpired":
        page.batches[batch_id]["personal_data_expired"] = True
    else:
        page.batches[batch_id].update(status=BATCH_STATUS_AFTER[name], updated_at=at)
    page.batches[batch_id]["position"] = position
    page.changed_batches.add(batch_id)


def touched(events: list[DomainEvent]) -> tuple[list[UUID], list[UUID]]:
    """(job ids, batch ids) whose rows a page of events may change, to load them in two queries."""
    jobs = [e.originator_id for e in events if type(e).__name__.startswith("Job")]
    batches = [e.originator_id for e in events if type(e).__name__.startswith("Batch")]
    return jobs, batches
