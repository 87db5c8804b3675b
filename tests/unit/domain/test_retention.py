"""When a batch's personal data expires: a table of batches and moments, and the event that records it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.batch import Batch, BatchReportingStarted, submit_batch
from domain.errors import IllegalTransitionError
from domain.reporting import ReportPlan
from domain.retention import expires_at, is_expired
from domain.states import BatchStatus
from tests.unit.domain.builders import BATCH_ID, T0, TENANT, TRACE_ID, USER_ID, at


def batch(retention_days: float | None, ended: str | None) -> Batch:
    made = submit_batch(
        batch_id=BATCH_ID, tenant=TENANT, user_id=USER_ID, trace_id=TRACE_ID, depositor_email="d@example.org",
        job_uuids=[], fingerprint="f", now=T0, retention_days=retention_days,
    )  # fmt: skip
    made.start(T0)
    if ended == "deleted":
        made.delete("op", "", at(10))
    elif ended in ("completed", "failed"):
        made._record(BatchReportingStarted, at(5), job_counts={})  # a batch of no jobs: all settled
        outcome = BatchStatus.COMPLETED if ended == "completed" else BatchStatus.FAILED
        made.conclude(ReportPlan("initial", outcome, {}, [], send=True), "<m>", at(10))
    return made


DAY = timedelta(days=1)
END = at(10)

# (retention_days, how it ended, now, expired?)
TABLE = [
    (None, "completed", END + 365 * DAY, False),  # no retention asked: kept
    (30, None, T0 + 365 * DAY, False),  # still running: retention counts from the end
    (30, "completed", END + 29 * DAY, False),
    (30, "completed", END + 30 * DAY, True),  # exactly due
    (30, "failed", END + 31 * DAY, True),
    (30, "deleted", END + 31 * DAY, True),
    (0, "completed", END, True),  # zero: as soon as it ends
    (0.5, "completed", END + timedelta(hours=11), False),  # fractions of a day
    (0.5, "completed", END + timedelta(hours=12), True),
]


@pytest.mark.parametrize(("days", "ended", "now", "expired"), TABLE)
def test_a_batch_expires_its_retention_after_it_ended(
    days: float | None, ended: str | None, now: datetime, expired: bool
) -> None:
    assert is_expired(batch(days, ended), now) is expired


def test_an_expired_batch_records_it_once_and_is_not_due_again() -> None:
    made = batch(1, "completed")
    made.expire_personal_data(END + DAY)

    assert made.personal_data_expired and expires_at(made) is None
    with pytest.raises(IllegalTransitionError):
        made.expire_personal_data(END + 2 * DAY)


def test_a_batch_reported_again_counts_its_retention_from_its_new_end() -> None:
    made = batch(1, "failed")
    made.request_update_reporting("admin", "", 0, at(20))

    assert expires_at(made) is None  # reporting again: not ended
