"""What `batchq status` and `batchq events` show, rebuilt from the event store.

`status --at T` folds only the events recorded up to T, so it shows the batch
exactly as it stood then.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from domain.access import ACCESS_ID, AccessGrants
from domain.base import fold
from domain.batch import Batch
from domain.job import OUTCOME_STATES, JobError
from domain.quotas import LIMIT_NAMES, QUOTAS_ID, Quotas, Scope
from domain.states import SETTLED_JOB_STATES, JobStatus
from services.adapters.envelopes import envelope, envelope_of_stored, occurred_at
from services.adapters.store import EventStore, NotFoundError, Recorded


def fold_recorded(records: Iterable[Recorded]) -> dict[UUID, Any]:
    return fold(record.event for record in records)


def load_batch(store: EventStore, batch_id: UUID, at: datetime | None = None) -> tuple[Batch, dict[UUID, Any]]:
    if at is None:
        batch: Batch = store.get(batch_id, "batch")
        return batch, store.get_many(batch.job_uuids)
    folded = fold_recorded(store.history([batch_id], until=at))
    if batch_id not in folded:
        raise NotFoundError("batch", batch_id)
    batch = folded[batch_id]
    return batch, fold_recorded(store.history(batch.job_uuids, until=at))


def status_document(batch: Batch, jobs: dict[UUID, Any]) -> dict[str, Any]:
    return {
        "batch_id": str(batch.id),
        "status": batch.status.value,
        "tenant": batch.tenant,
        "user_id": batch.user_id,
        "jobs": [job_entry(job_uuid, jobs.get(job_uuid)) for job_uuid in batch.job_uuids],
        "reports": [
            {"kind": r["kind"], "status": r["status"], "sent_at": occurred_at(r["sent_at"])} for r in batch.reports
        ],
    }


def job_entry(job_uuid: UUID, job: Any) -> dict[str, Any]:
    """One job as `status --json` lists it (also the API's job document): UNKNOWN if not found."""
    return {
        "job_uuid": str(job_uuid),
        "status": job.status.value if job is not None else "UNKNOWN",
        "attempts": job.attempts if job is not None else 0,
        "progress": job.progress if job is not None else None,
        "error": _public_error(job.error) if job is not None else None,
    }


def _public_error(error: JobError | None) -> dict[str, Any] | None:
    return error.as_dict() if error else None


def status_table(doc: dict[str, Any]) -> str:
    lines = [f"batch {doc['batch_id']}  {doc['status']}  (tenant {doc['tenant']}, user {doc['user_id']})", ""]
    lines.append(f"{'JOB':36}  {'STATUS':10}  {'ATTEMPTS':>8}  {'PROGRESS':>8}  ERROR")
    for job in doc["jobs"]:
        progress = "" if job["progress"] is None else f"{job['progress'] * 100:.0f}%"
        error = f"{job['error']['code']}: {job['error']['reason']}" if job["error"] else ""
        lines.append(f"{job['job_uuid']:36}  {job['status']:10}  {job['attempts']:>8}  {progress:>8}  {error}")
    if doc["reports"]:
        lines.append("")
        lines.extend(f"report {r['kind']}: {r['status']} at {r['sent_at']}" for r in doc["reports"])
    return "\n".join(lines)


def grants_listing(store: EventStore, principal: str | None, *, as_json: bool) -> str:
    """Every grant (of one principal), a line each, or a JSON list."""
    access: AccessGrants | None = store.get_many([ACCESS_ID]).get(ACCESS_ID)
    grants = sorted(access.grants if access else ())
    rows = [
        {"principal": g.principal, "role": g.role.value, "tenant": g.tenant}
        for g in grants
        if principal is None or g.principal == principal
    ]
    if as_json:
        return orjson.dumps(rows).decode()
    lines = [f"{'PRINCIPAL':24}  {'ROLE':9}  TENANT"]
    lines += [f"{row['principal']:24}  {row['role']:9}  {row['tenant']}" for row in rows]
    return "\n".join(lines)


def quota_listing(store: EventStore, tenant: str | None, user: str | None, *, as_json: bool) -> str:
    """The quotas set (of one tenant or depositor), a line each, or a JSON list."""
    quotas: Quotas | None = store.get_many([QUOTAS_ID]).get(QUOTAS_ID)
    wanted = (Scope.TENANT, tenant) if tenant else (Scope.USER, user) if user else None
    rows = [
        {"scope": scope.value, "subject": subject, **limits.as_dict()}
        for (scope, subject), limits in sorted((quotas.limits if quotas else {}).items())
        if wanted is None or (scope, subject) == wanted
    ]
    if as_json:
        return orjson.dumps(rows).decode()
    limits = sorted(LIMIT_NAMES)
    lines = [f"{'SCOPE':6}  {'SUBJECT':24}  " + "  ".join(name.upper() for name in limits)]
    for row in rows:
        shown = {name: "-" if row[name] is None else str(row[name]) for name in limits}
        lines.append(f"{row['scope']:6}  {row['subject']:24}  " + "  ".join(f"{shown[n]:>{len(n)}}" for n in limits))
    return "\n".join(lines)


def event_envelopes(
    store: EventStore, *, batch_id: UUID | None, job_uuid: UUID | None, since: int
) -> list[dict[str, Any]]:
    if batch_id is None and job_uuid is None:
        envelopes: list[dict[str, Any]] = []
        while page := store.read_stored(since, 10_000):
            envelopes.extend(envelope_of_stored(n) for n in page)
            since = page[-1].id
        return envelopes
    ids: list[UUID] = []
    if batch_id is not None:
        batch: Batch = store.get(batch_id, "batch")
        ids += [batch_id, *batch.job_uuids]
    if job_uuid is not None:
        ids.append(job_uuid)
    return [envelope(r.position, r.event) for r in store.history(ids) if r.position > since]


def event_line(env: dict[str, Any]) -> str:
    data = env["data"]
    detail = ""
    if "error" in data and isinstance(data["error"], dict):
        detail = f" {data['error'].get('code')}: {data['error'].get('reason')}"
    elif data.get("reason"):
        detail = f" {data['reason']}"
    return f"{env['position']:>8}  {env['occurred_at']}  {env['type']:30} {env['aggregate_id']}{detail}"


OUTCOME_TOPICS = tuple(f"batchq:{event_class.__name__}" for event_class in OUTCOME_STATES)


class BatchProgress:
    """How many of a batch's jobs have settled, followed along the event log.

    Each poll reads only the outcome events recorded since the last one, so
    following a 100,000-job batch costs no more per poll than a small one.
    """

    def __init__(self, store: EventStore, batch_id: UUID) -> None:
        self.store = store
        self.batch_id = batch_id
        history = store.history([batch_id])
        if not history:
            raise NotFoundError("batch", batch_id)
        self.position = history[0].position
        self.total = len(fold_recorded(history)[batch_id].job_uuids)
        self.states: dict[UUID, JobStatus] = {}

    def poll(self) -> tuple[int, int, str]:
        """(settled, total, batch status) now."""
        while records := self.store.read(self.position, 10_000, topics=OUTCOME_TOPICS):
            for record in records:
                if getattr(record.event, "batch_id", None) == self.batch_id:
                    self.states[record.event.originator_id] = OUTCOME_STATES[type(record.event)]
            self.position = records[-1].position
        settled = sum(1 for state in self.states.values() if state in SETTLED_JOB_STATES)
        status = fold_recorded(self.store.history([self.batch_id]))[self.batch_id].status.value
        return settled, self.total, status
