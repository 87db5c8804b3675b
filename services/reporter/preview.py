"""`batchq report preview`: the report this code would send for a batch, beside the one recorded as sent.

The text of a sent email is not stored (report contents are personal data, and
the reporter records only `BatchReported`: kind, outcome, job states, changed
jobs, Message-ID). So the "sent" side is re-rendered, with this code's wording,
from that record and the history before it; the "now" side is this code's own
plan (`report_plan`, the reporter's) from the same history, rendered the same
way. Their diff shows where this code would decide differently from what was
recorded (outcome, kind, counts, jobs named as changed, Message-ID), never a
change of wording between the version that sent the report and this one.

A batch that awaits a report now (REPORTING, UPDATE_REPORTING) is previewed as
the reporter would send it now; there is no sent one to compare it with.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, cast
from uuid import UUID

from domain.batch import REPORTING_STATES, Batch, BatchReported
from domain.errors import IllegalTransitionError, NotFoundError
from domain.job import Job
from domain.reporting import ReportPlan
from domain.states import BatchStatus
from services.adapters.history import fold_recorded
from services.adapters.store import EventStore, Recorded
from services.reporter.application import report_plan
from services.reporter.rendering import render

# Set by the email library for any plain-text message: nothing a report's author decides.
MIME_HEADERS = frozenset({"Content-Type", "Content-Transfer-Encoding", "MIME-Version"})


@dataclass(frozen=True)
class RenderedReport:
    kind: str
    outcome: str
    message_id: str
    subject: str
    body: str
    text: str  # the headers a reader sees, a blank line, the body: what is diffed

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("kind", "outcome", "message_id", "subject", "body", "text")}


@dataclass(frozen=True)
class Preview:
    batch_id: UUID
    status: str  # the batch's status now
    now: RenderedReport | None  # what this code would send; None when it would send nothing
    sent: RenderedReport | None  # the recorded report re-rendered; None when none was sent
    sent_position: int | None  # the position of the `BatchReported` compared with
    note: str  # what is compared, or why there is nothing to compare

    @property
    def diff(self) -> str:
        """A unified diff from the sent report to this code's; "" when they are equal or one is missing."""
        if self.now is None or self.sent is None:
            return ""
        return "".join(
            difflib.unified_diff(
                self.sent.text.splitlines(keepends=True),
                self.now.text.splitlines(keepends=True),
                fromfile=f"sent (BatchReported at position {self.sent_position}, re-rendered)",
                tofile="now (this code's plan and wording)",
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": str(self.batch_id),
            "status": self.status,
            "report": self.now.as_dict() if self.now else None,
            "sent": self.sent.as_dict() if self.sent else None,
            "sent_position": self.sent_position,
            "difference": bool(self.diff),
            "diff": self.diff,
            "note": self.note,
        }


def preview(store: EventStore, batch_id: UUID, mail_from: str, now: datetime) -> Preview:
    """The preview of `batch_id`'s last report, or of the report it awaits; NotFoundError if no such batch."""
    records = store.history([batch_id])
    batch = fold_recorded(records).get(batch_id)
    if not isinstance(batch, Batch):
        raise NotFoundError("batch", batch_id)
    status = batch.status.value
    if batch.status in REPORTING_STATES:
        jobs = _by_str(store.get_many(batch.job_uuids))
        owed = _rendered(batch, jobs, report_plan(batch, jobs), mail_from, now)
        note = "the report this batch awaits, as this code would send it now; none of it has been sent"
        if owed is None:
            note = "this code would send nothing now: no job changed since the last report"
        return Preview(batch_id, status, owed, None, None, note)
    reported = [r for r in records if isinstance(r.event, BatchReported)]
    if not reported:
        return Preview(batch_id, status, None, None, None, f"batch is {status}: no report was sent and none is owed")
    return _compare(store, batch, records, reported[-1], mail_from)


def _compare(store: EventStore, batch: Batch, records: list[Recorded], sent: Recorded, mail_from: str) -> Preview:
    """The last report sent, re-rendered from its record and as this code plans it from the same history."""
    before: Batch = fold_recorded(r for r in records if r.position < sent.position)[batch.id]
    jobs = _by_str(fold_recorded(r for r in store.history(before.job_uuids) if r.position < sent.position))
    event = cast(BatchReported, sent.event)  # `preview` picked it as one
    recorded = ReportPlan(
        kind=event.kind,
        outcome=BatchStatus(event.outcome),
        job_states=dict(event.job_states),
        changed=list(event.changed),
        send=True,
    )
    as_sent = _rendered(before, jobs, recorded, mail_from, event.timestamp, message_id=event.message_id)
    try:
        current = _rendered(before, jobs, report_plan(before, jobs), mail_from, event.timestamp)
    except IllegalTransitionError:  # a history this code would not have reported from at all
        current = None
    note = (
        f"the {event.kind} report recorded at position {sent.position}, re-rendered from its record,"
        " against this code's plan from the same history; both in this code's wording"
    )
    if current is None:
        note = f"this code would send nothing from the history before position {sent.position}"
    return Preview(batch.id, batch.status.value, current, as_sent, sent.position, note)


def _by_str(aggregates: dict[UUID, Any]) -> dict[str, Job]:
    return {str(k): v for k, v in aggregates.items() if isinstance(v, Job)}


def _rendered(
    batch: Batch, jobs: dict[str, Job], plan: ReportPlan, mail_from: str, at: datetime, message_id: str | None = None
) -> RenderedReport | None:
    """The email as `render` writes it, or None when the plan sends nothing."""
    if not plan.send:
        return None
    message: EmailMessage = render(batch, jobs, plan, mail_from, at)
    if message_id is not None:
        message.replace_header("Message-ID", message_id)
    headers = "".join(f"{name}: {value}\n" for name, value in message.items() if name not in MIME_HEADERS)
    body = str(message.get_content())
    return RenderedReport(
        kind=plan.kind,
        outcome=plan.outcome.value,
        message_id=str(message["Message-ID"]),
        subject=str(message["Subject"]),
        body=body,
        text=headers + "\n" + body,
    )
