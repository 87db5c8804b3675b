"""What `batchq status` and `batchq events` show, rebuilt from the event store.

`status --at T` folds only the events recorded up to T, so it shows the batch
exactly as it stood then.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.batch import Batch
from services.adapters.envelopes import envelope, envelope_of_stored, occurred_at
from services.adapters.store import EventStore, NotFoundError, Recorded


def fold(records: Iterable[Recorded]) -> dict[UUID, Any]:
    aggregates: dict[UUID, Any] = {}
    for record in records:
        event = record.event
        aggregates[event.originator_id] = event.mutate(aggregates.get(event.originator_id))
    return aggregates


def load_batch(store: EventStore, batch_id: UUID, at: datetime | None = None) -> tuple[Batch, dict[UUID, Any]]:
    if at is None:
        batch: Batch = store.get(batch_id, "batch")
        return batch, store.get_many(batch.job_uuids)
    folded = fold(store.history([batch_id], until=at))
    if batch_id not in folded:
        raise NotFoundError("batch", batch_id)
    batch = folded[batch_id]
    return batch, fold(store.history(batch.job_uuids, until=at))


def status_document(batch: Batch, jobs: dict[UUID, Any]) -> dict[str, Any]:
    return {
        "batch_id": str(batch.id),
        "status": batch.status.value,
        "tenant": batch.tenant,
        "user_id": batch.user_id,
        "jobs": [
            {
                "job_uuid": str(job_uuid),
                "status": jobs[job_uuid].status.value if job_uuid in jobs else "UNKNOWN",
                "attempts": jobs[job_uuid].attempts if job_uuid in jobs else 0,
                "progress": jobs[job_uuid].progress if job_uuid in jobs else None,
                "error": _public_error(jobs[job_uuid].error) if job_uuid in jobs else None,
            }
            for job_uuid in batch.job_uuids
        ],
        "reports": [
            {"kind": r["kind"], "status": r["status"], "sent_at": occurred_at(r["sent_at"])} for r in batch.reports
        ],
    }


def _public_error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    return dict(error) if error else None


STATUS_COLUMNS = ("JOB", "STATUS", "ATTEMPTS", "PROGRESS", "ERROR")


def status_heading(doc: dict[str, Any]) -> str:
    return f"batch {doc['batch_id']}  {doc['status']}  (tenant {doc['tenant']}, user {doc['user_id']})"


def status_rows(doc: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """A row of cells per job, in manifest order: the plain table and the terminal's show the same."""
    rows = []
    for job in doc["jobs"]:
        progress = "" if job["progress"] is None else f"{job['progress'] * 100:.0f}%"
        error = f"{job['error']['code']}: {job['error']['reason']}" if job["error"] else ""
        rows.append((job["job_uuid"], job["status"], str(job["attempts"]), progress, error))
    return rows


def report_lines(doc: dict[str, Any]) -> list[str]:
    return [f"report {r['kind']}: {r['status']} at {r['sent_at']}" for r in doc["reports"]]


def status_table(doc: dict[str, Any]) -> str:
    """`batchq status` as plain text: what a pipe, a file or a script gets."""
    job, status, attempts, progress, _ = STATUS_COLUMNS
    lines = [status_heading(doc), "", f"{job:36}  {status:10}  {attempts:>8}  {progress:>8}  ERROR"]
    lines += [f"{j:36}  {s:10}  {a:>8}  {p:>8}  {e}" for j, s, a, p, e in status_rows(doc)]
    if doc["reports"]:
        lines += ["", *report_lines(doc)]
    return "\n".join(lines)


def progress_line(settled: int, total: int, elapsed: float, status: str) -> str:
    """One line of `submit --wait`'s progress: settled / total, rate, ETA, the batch's status."""
    rate = settled / elapsed
    eta = (total - settled) / rate if rate else float("inf")
    bar = "#" * int(30 * settled / max(total, 1))
    return f"[{bar:30}] {settled}/{total}  {rate:,.0f} jobs/s  ETA {eta:,.0f}s  {status}"


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


OUTCOME_TOPICS = tuple(
    f"batchq:{name}"
    for name in ("JobCompleted", "JobFailed", "JobCancelled", "JobSkipped", "JobAbandoned", "JobRetried")
)
SETTLING_EVENTS = frozenset({"JobCompleted", "JobFailed", "JobCancelled", "JobSkipped", "JobAbandoned"})


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
        self.total = len(fold(history)[batch_id].job_uuids)
        self.last_event: dict[UUID, str] = {}

    def poll(self) -> tuple[int, int, str]:
        """(settled, total, batch status) now."""
        while records := self.store.read(self.position, 10_000, topics=OUTCOME_TOPICS):
            for record in records:
                if getattr(record.event, "batch_id", None) == self.batch_id:
                    self.last_event[record.event.originator_id] = type(record.event).__name__
            self.position = records[-1].position
        settled = sum(1 for name in self.last_event.values() if name in SETTLING_EVENTS)
        status = fold(self.store.history([self.batch_id]))[self.batch_id].status.value
        return settled, self.total, status
