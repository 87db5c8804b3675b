"""A batch as `batchq status` and the API show it, and the events of a batch or a job, rebuilt from the store.

`status --at T` folds only the events recorded up to T, so it shows the batch
exactly as it stood then. One module for the CLI and the API, so they cannot
disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.base import fold
from domain.batch import Batch
from domain.job import JobError
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
            {
                "kind": r["kind"],
                "status": r["status"],
                "sent_at": occurred_at(r["sent_at"]) if not r.get("withheld") else None,
                **({"withheld": r["withheld"]} if r.get("withheld") else {}),
            }
            for r in batch.reports
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
        # The schema version the job was created under (contract v1.1, upgrades).
        "schema_version": job.schema_version if job is not None else None,
    }


def _public_error(error: JobError | None) -> dict[str, Any] | None:
    return error.as_dict() if error else None


def event_envelopes(
    store: EventStore, *, batch_id: UUID | None, job_uuid: UUID | None, since: int
) -> list[dict[str, Any]]:
    if batch_id is None and job_uuid is None:
        envelopes: list[dict[str, Any]] = []
        while page := store.read_stored(since, 10_000):
            envelopes.extend(envelope_of_stored(n, store.sealer) for n in page)
            since = page[-1].id
        return envelopes
    ids: list[UUID] = []
    if batch_id is not None:
        batch: Batch = store.get(batch_id, "batch")
        ids += [batch_id, *batch.job_uuids]
    if job_uuid is not None:
        ids.append(job_uuid)
    return [envelope(r.position, r.event) for r in store.history(ids) if r.position > since]
