"""services/projections/evolve.py: the read model's job rows say what the Job aggregate says, whatever its history.

Given a job's events, when the page folds them, then the row's status, attempts,
progress and error are the aggregate's own, and the counts moved with the status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest

from domain.job import Job
from services.projections import evolve
from tests.unit.domain.builders import HANDLER_ERROR, TENANT, at, new_job

STUCK_ERROR = replace(HANDLER_ERROR, code="JOB_STUCK")


def NO_REF(tenant: str, user_id: str) -> None:
    return None


def history(*steps: Callable[[Job], None], max_attempts: int = 3) -> Callable[[], Job]:
    """A new job each time asked, its events not yet collected."""

    def build() -> Job:
        job = new_job(max_attempts=max_attempts)
        for step in steps:
            step(job)
        return job

    return build


def start(minute: int) -> Callable[[Job], None]:
    return lambda job: job.start("worker-1", at(minute))


HISTORIES = {
    "submitted": history(),
    "running with progress": history(start(1), lambda j: j.report_progress(1, 0.4, at(2))),
    "completed": history(start(1), lambda j: j.complete(1, {"ok": True}, at(3))),
    "failed": history(start(1), lambda j: j.fail(1, HANDLER_ERROR, at(3))),
    "failed, retried with a backoff (the error stays)": history(
        start(1), lambda j: j.fail(1, HANDLER_ERROR, at(3)), lambda j: j.retry_automatically(at(10), at(4))
    ),
    "retried by hand, then completed": history(
        start(1),
        lambda j: j.fail(1, HANDLER_ERROR, at(3)),
        lambda j: j.retry("admin", "again", False, at(4)),
        start(5),
        lambda j: j.complete(2, None, at(6)),
    ),
    "abandoned": history(
        start(1), lambda j: j.fail(1, HANDLER_ERROR, at(2)), lambda j: j.abandon(at(3)), max_attempts=1
    ),
    "stuck, fenced": history(start(1), lambda j: j.flag_stuck(1, 90.0, at(5))),
    "cancelled": history(lambda j: j.cancel("no longer wanted", at(1))),
}


@pytest.mark.parametrize("name", HISTORIES)
def test_a_folded_job_row_matches_the_aggregate(name: str) -> None:
    job = HISTORIES[name]()
    events = list(job.collect_events())
    page = evolve.Page()
    for position, event in enumerate(events, start=1):
        evolve.apply(page, position, event, NO_REF)
    row = page.jobs[job.id]
    assert (row["status"], row["attempts"], row["progress"], row["error"]) == (
        job.status.value,
        job.attempts,
        job.progress,
        {"code": job.error.code, "stage": job.error.stage} if job.error else None,  # never its reason
    )
    assert +page.counts == Counter({(TENANT, job.status.value): 1})
    assert [r["position"] for r in page.index] == list(range(1, len(events) + 1))


def test_a_retry_waiting_out_its_backoff_counts_as_pending_from_when_it_is_due() -> None:
    job = HISTORIES["failed, retried with a backoff (the error stays)"]()
    page = evolve.Page()
    for position, event in enumerate(job.collect_events(), start=1):
        evolve.apply(page, position, event, NO_REF)
    assert page.jobs[job.id]["pending_since"] == at(10)


def test_a_failure_is_indexed_with_its_error_code_and_a_duration() -> None:
    job = HISTORIES["failed"]()
    page = evolve.Page()
    for position, event in enumerate(job.collect_events(), start=1):
        evolve.apply(page, position, event, NO_REF)
    assert [(r["type"], r["error_code"]) for r in page.index][-1] == ("JobFailed", "HANDLER_ERROR")
    assert page.jobs[job.id]["duration_seconds"] == 120.0
