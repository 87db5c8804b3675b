"""The Batch aggregate: a depositor's manifest, from submission to its report.

PENDING → PROCESSING → REPORTING → COMPLETED | FAILED;
FAILED → UPDATE_REPORTING → COMPLETED | FAILED; anything but DELETED → DELETED.
The batch never scans its jobs: callers hand it a `JobTally` or the job states
the report is built from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.base import BatchqAggregate, BatchqCreated, BatchqEvent, pinned
from domain.errors import IllegalTransitionError
from domain.job_ids import JobIds
from domain.reporting import ReportPlan, changed_jobs, outcome_of
from domain.states import BatchStatus
from domain.tally import JobTally


@pinned
class BatchSubmitted(BatchqCreated):
    """Version 2 holds `job_uuids` as one `JobIds` string (a version 1 event, a list, is converted on read)."""

    class_version = 2
    depositor_email: str
    tags: dict[str, Any]
    fingerprint: str
    job_uuids: JobIds
    pool: str
    retention_days: float | None = None  # `tags.retention_days`, kept in clear so retention needs no key

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["job_uuids"] = JobIds.of(state["job_uuids"])

    def apply(self, batch: Batch) -> None:
        super().apply(batch)
        batch.retention_days = self.retention_days
        batch.ended_at = None
        batch.personal_data_expired = False
        batch.depositor_email = self.depositor_email
        batch.tags = self.tags
        batch.fingerprint = self.fingerprint
        batch.job_uuids = self.job_uuids
        batch.pool = self.pool
        batch.status = BatchStatus.PENDING
        batch.reports = []
        batch.last_reported = {}
        batch.not_completed = None


@pinned
class BatchStarted(BatchqEvent):
    def apply(self, batch: Batch) -> None:
        batch.status = BatchStatus.PROCESSING


@pinned
class BatchReportingStarted(BatchqEvent):
    job_counts: dict[str, int]
    # The jobs that were not COMPLETED at this moment: the report need read only these.
    # None in events recorded before the field existed (the reporter then looks at every job).
    not_completed: list[UUID] | None = None

    def apply(self, batch: Batch) -> None:
        batch.status = BatchStatus.REPORTING
        batch.not_completed = self.not_completed


@pinned
class BatchReported(BatchqEvent):
    """The report sent: its kind, outcome, the job states it told, and its Message-ID."""

    kind: str
    outcome: str
    job_states: dict[str, str]
    changed: list[str]
    message_id: str
    withheld: str = ""  # why no email went out (its depositor was erased); empty when one did

    def apply(self, batch: Batch) -> None:
        batch.last_reported = self.job_states
        report = {"kind": self.kind, "status": self.outcome, "sent_at": self.timestamp, "changed": self.changed}
        batch.reports = [*batch.reports, {**report, "withheld": self.withheld}]


@pinned
class BatchCompleted(BatchqEvent):
    def apply(self, batch: Batch) -> None:
        batch.status = BatchStatus.COMPLETED
        batch.ended_at = self.timestamp


@pinned
class BatchFailed(BatchqEvent):
    def apply(self, batch: Batch) -> None:
        batch.status = BatchStatus.FAILED
        batch.ended_at = self.timestamp


@pinned
class BatchUpdateReportingRequested(BatchqEvent):
    requested_by: str
    reason: str = ""

    def apply(self, batch: Batch) -> None:
        batch.status = BatchStatus.UPDATE_REPORTING
        batch.ended_at = None
        batch.not_completed = None  # jobs were retried since: an update report looks at every job


@pinned
class BatchDeleted(BatchqEvent):
    requested_by: str
    reason: str = ""

    def apply(self, batch: Batch) -> None:
        batch.status = BatchStatus.DELETED
        batch.ended_at = self.timestamp


@pinned
class BatchPersonalDataExpired(BatchqEvent):
    """The batch's retention passed after it ended: its personal data was made unreadable (its key destroyed)."""

    retention_days: float

    def apply(self, batch: Batch) -> None:
        batch.personal_data_expired = True


REPORTING_STATES = frozenset({BatchStatus.REPORTING, BatchStatus.UPDATE_REPORTING})


class Batch(BatchqAggregate):
    if TYPE_CHECKING:  # annotations only: a runtime annotation would make the aggregate a dataclass
        depositor_email: str
        tags: dict[str, Any]
        fingerprint: str
        job_uuids: JobIds
        pool: str
        status: BatchStatus
        reports: list[dict[str, Any]]
        last_reported: dict[str, str]
        retention_days: float | None
        ended_at: datetime | None  # when it last became COMPLETED, FAILED or DELETED
        personal_data_expired: bool
        not_completed: list[UUID] | None  # while REPORTING: the jobs that were not COMPLETED, if known

    def _refuse(self, action: str, why: str = "") -> IllegalTransitionError:
        return IllegalTransitionError("batch", self.id, self.status.value, action, why)

    def _require(self, status: BatchStatus, action: str) -> None:
        if self.status is not status:
            raise self._refuse(action)

    def start(self, now: datetime) -> None:
        self._require(BatchStatus.PENDING, "start")
        self._record(BatchStarted, now)

    def start_reporting(self, tally: JobTally, now: datetime, not_completed: list[UUID] | None = None) -> None:
        """Every job has settled; `not_completed` names those that did not complete, when known."""
        self._require(BatchStatus.PROCESSING, "start reporting")
        if tally.total != len(self.job_uuids) or not tally.all_settled:
            raise self._refuse("start reporting", f"{tally.total - tally.settled} jobs not settled")
        self._record(BatchReportingStarted, now, job_counts=tally.as_dict(), not_completed=not_completed)

    def plan_report(self, job_states: Mapping[str, str], done_count: int) -> ReportPlan:
        """What to tell the depositor now; `send` is False when an update has nothing new."""
        if self.status not in REPORTING_STATES:
            raise self._refuse("report")
        kind = "initial" if self.status is BatchStatus.REPORTING else "update"
        changed = changed_jobs(self.last_reported, job_states)
        return ReportPlan(
            kind=kind,
            outcome=outcome_of(len(job_states), done_count),
            job_states=dict(job_states),
            changed=changed,
            send=kind == "initial" or bool(changed),
        )

    def conclude(self, plan: ReportPlan, message_id: str, now: datetime, withheld: str = "") -> None:
        """Record the report (when one was owed: sent, or `withheld` and why) and the batch's outcome."""
        if self.status not in REPORTING_STATES:
            raise self._refuse("conclude reporting")
        if plan.send:
            self._record(
                BatchReported,
                now,
                kind=plan.kind,
                outcome=plan.outcome.value,
                job_states=plan.job_states,
                changed=plan.changed,
                message_id=message_id,
                withheld=withheld,
            )
        final = BatchCompleted if plan.outcome is BatchStatus.COMPLETED else BatchFailed
        self._record(final, now)

    def request_update_reporting(self, requested_by: str, reason: str, unsettled_jobs: int, now: datetime) -> None:
        self._require(BatchStatus.FAILED, "update reporting")
        if unsettled_jobs:
            raise self._refuse("update reporting", f"{unsettled_jobs} jobs are still running or queued")
        self._record(BatchUpdateReportingRequested, now, requested_by=requested_by, reason=reason)

    def expire_personal_data(self, now: datetime) -> None:
        """Record that the batch's retention passed (see `domain.retention.is_expired`)."""
        if self.personal_data_expired or self.retention_days is None:
            raise self._refuse("expire personal data", "no retention, or already expired")
        self._record(BatchPersonalDataExpired, now, retention_days=self.retention_days)

    def delete(self, requested_by: str, reason: str, now: datetime) -> None:
        if self.status is BatchStatus.DELETED:
            raise self._refuse("delete")
        self._record(BatchDeleted, now, requested_by=requested_by, reason=reason)


def submit_batch(
    *,
    batch_id: UUID,
    tenant: str,
    user_id: str,
    trace_id: str,
    depositor_email: str,
    job_uuids: Iterable[UUID],
    fingerprint: str,
    now: datetime,
    tags: dict[str, Any] | None = None,
    pool: str = "default",
    retention_days: float | None = None,
) -> Batch:
    return Batch._begin(
        BatchSubmitted,
        batch_id,
        now,
        tenant=tenant,
        user_id=user_id,
        trace_id=trace_id,
        batch_id=batch_id,
        depositor_email=depositor_email,
        tags=tags or {},
        fingerprint=fingerprint,
        job_uuids=JobIds.of(job_uuids),
        pool=pool,
        retention_days=retention_days,
    )
