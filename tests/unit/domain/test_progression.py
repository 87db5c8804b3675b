"""Job progression, decided by a pure function: given a job's situation, when the engine looks, then this step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.progression import Situation, Step, next_step
from domain.states import JobStatus

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
LATER, EARLIER = NOW + timedelta(seconds=5), NOW - timedelta(seconds=5)
PENDING, PROCESSING, COMPLETED, FAILED = JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED
CANCELLED, SKIPPED, ABANDONED = JobStatus.CANCELLED, JobStatus.SKIPPED, JobStatus.ABANDONED

CASES: list[tuple[str, Situation, Step]] = [
    ("a ready job is dispatched", Situation(PENDING, ready=True), Step.DISPATCH),
    ("a ready job whose backoff is over is dispatched", Situation(PENDING, ready=True, not_before=EARLIER), Step.DISPATCH),  # noqa: E501
    ("a ready job in backoff waits for its time", Situation(PENDING, ready=True, not_before=LATER), Step.WAKE_LATER),
    ("a job waiting on a dependency does nothing", Situation(PENDING, ready=False), Step.NOTHING),
    ("a waiting job of a deleted batch is cancelled", Situation(PENDING, batch_deleted=True, ready=True), Step.CANCEL),
    ("a running job waits for its worker", Situation(PROCESSING), Step.NOTHING),
    ("a failure with attempts left is retried", Situation(FAILED, may_retry_automatically=True, max_attempts=3), Step.RETRY_AUTOMATICALLY),  # noqa: E501
    ("a failure that used its budget is abandoned", Situation(FAILED, max_attempts=3), Step.ABANDON),
    ("a lost worker's one-attempt job is retried free", Situation(FAILED, may_retry_automatically=True), Step.RETRY_AUTOMATICALLY),  # noqa: E501
    ("a one-attempt failure waits for an admin and cancels its dependents", Situation(FAILED), Step.CANCEL_DEPENDENTS),
    ("a completed job releases its dependents", Situation(COMPLETED, done=True), Step.RELEASE_DEPENDENTS),
    ("a job skipped as done releases its dependents", Situation(SKIPPED, done=True), Step.RELEASE_DEPENDENTS),
    ("a job skipped after a failed owner cancels its dependents", Situation(SKIPPED), Step.CANCEL_DEPENDENTS),
    ("a cancelled job cancels its dependents", Situation(CANCELLED), Step.CANCEL_DEPENDENTS),
    ("an abandoned job cancels its dependents", Situation(ABANDONED), Step.CANCEL_DEPENDENTS),
]  # fmt: skip


@pytest.mark.parametrize(("situation", "step"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_next_step(situation: Situation, step: Step) -> None:
    assert next_step(situation, NOW) is step


def test_every_step_is_reachable() -> None:
    assert {step for _, _, step in CASES} == set(Step)


def test_every_state_is_decided() -> None:
    assert {situation.status for _, situation, _ in CASES} == set(JobStatus)
