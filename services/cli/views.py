"""How `batchq status`, `events`, `grants` and `quota show` print what they read (read by adapters/history.py)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson

from domain.access import ACCESS_ID, AccessGrants
from domain.job import OUTCOME_STATES
from domain.quotas import LIMIT_NAMES, QUOTAS_ID, Quotas, Scope
from domain.states import SETTLED_JOB_STATES, JobStatus
from services.adapters.history import fold_recorded
from services.adapters.store import EventStore, NotFoundError

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
    return [f"report {r['kind']}: {r['status']} {_delivery(r)}" for r in doc["reports"]]


def _delivery(report: dict[str, Any]) -> str:
    return f"not sent ({report['withheld']})" if report.get("withheld") else f"at {report['sent_at']}"


def status_table(doc: dict[str, Any]) -> str:
    """`batchq status` as plain text: what a pipe, a file or a script gets."""
    job, status, attempts, progress, _ = STATUS_COLUMNS
    lines = [status_heading(doc), "", f"{job:36}  {status:10}  {attempts:>8}  {progress:>8}  ERROR"]
    lines += [f"{j:36}  {s:10}  {a:>8}  {p:>8}  {e}" for j, s, a, p, e in status_rows(doc)]
    if doc["reports"]:
        lines += ["", *report_lines(doc)]
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
def progress_line(settled: int, total: int, elapsed: float, status: str) -> str:
    """One line of `submit --wait`'s progress: settled / total, rate, ETA, the batch's status."""
    rate = settled / elapsed
    eta = (total - settled) / rate if rate else float("inf")
    bar = "#" * int(30 * settled / max(total, 1))
    return f"[{bar:30}] {settled}/{total}  {rate:,.0f} jobs/s  ETA {eta:,.0f}s  {status}"


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
