"""The dispatcher's view holds live work only: it does not grow with the batches that have finished."""

from __future__ import annotations

from pathlib import Path

from contracts.commands import RetryJob
from domain.submission import JobDraft
from services.dispatcher.admin import COMMAND_HANDLERS
from services.reporter.application import Reporter
from services.reporter.mailer import FolderMailer
from tests.unit.domain.builders import draft, job_id
from tests.unit.services.embedded import HANDLER_ERROR, OPERATOR, Engine

BATCHES = 6  # the even ones FAILED, the odd ones COMPLETED


def finish_batches(engine: Engine, folder: Path) -> None:
    mailer = Reporter(engine.store, FolderMailer(folder), "batchq@example.org", lambda: engine.now)
    for b in range(BATCHES):
        jobs = [job_id(100 * b + n) for n in range(1, 4)]
        engine.submit(draft([JobDraft(j) for j in jobs], batch_id=job_id(10_000 + b)))
        for j in jobs:
            engine.run(j, error=HANDLER_ERROR if b % 2 == 0 and j == jobs[0] else None)
        engine.react()
        mailer.report(job_id(10_000 + b))


def test_finished_batches_failed_ones_included_leave_the_view(engine: Engine, tmp_path: Path) -> None:
    finish_batches(engine, tmp_path)

    assert engine.status(job_id(10_000)) == "FAILED" and engine.status(job_id(10_001)) == "COMPLETED"
    assert (len(engine.app.view.batches), len(engine.app.view.jobs)) == (0, 0)
    engine.restart()
    assert (len(engine.app.view.batches), len(engine.app.view.jobs)) == (0, 0)


def test_a_retried_job_brings_its_batch_back_until_it_settles_again(engine: Engine, tmp_path: Path) -> None:
    finish_batches(engine, tmp_path)

    COMMAND_HANDLERS[RetryJob](engine.app, RetryJob(job_uuid=job_id(1)), OPERATOR)
    assert job_id(10_000) in engine.app.view.batches
    engine.run(job_id(1))
    engine.react()

    assert (len(engine.app.view.batches), len(engine.app.view.jobs)) == (0, 0)
