"""The reporter's use case on the embedded store, mailing into a folder: one report per state, sent once."""

from __future__ import annotations

import email
from email.message import Message
from pathlib import Path

from contracts.commands import RetryJob, UpdateReporting
from domain.submission import JobDraft
from services.dispatcher.admin import COMMAND_HANDLERS
from services.reporter.application import Reporter
from services.reporter.mailer import FolderMailer
from tests.unit.domain.builders import BATCH_ID, draft, job_id
from tests.unit.services.embedded import HANDLER_ERROR, OPERATOR, Engine

J1, J2 = job_id(1), job_id(2)


def mails(folder: Path) -> list[Message]:
    return [email.message_from_bytes(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]


def reporter(engine: Engine, folder: Path) -> Reporter:
    return Reporter(engine.store, FolderMailer(folder), "batchq@example.org", lambda: engine.now)


def failed_batch(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2)]))
    engine.run(J1)
    engine.run(J2, error=HANDLER_ERROR)
    engine.react()


def test_a_batch_in_reporting_gets_one_report_naming_its_outcome_and_each_failure(
    engine: Engine, tmp_path: Path
) -> None:
    failed_batch(engine)

    outcome = reporter(engine, tmp_path / "mail").report(BATCH_ID)

    assert outcome is not None and outcome.value == "FAILED"
    [mail] = mails(tmp_path / "mail")
    assert str(BATCH_ID) in mail["Subject"] and "FAILED" in mail["Subject"]
    body = mail.get_payload()
    assert isinstance(body, str)
    assert "E42: the handler gave up" in body
    assert engine.events(BATCH_ID)[-2:] == ["BatchReported", "BatchFailed"]


def test_a_report_already_recorded_is_not_sent_again(engine: Engine, tmp_path: Path) -> None:
    failed_batch(engine)
    reporter(engine, tmp_path / "mail").report(BATCH_ID)

    again = reporter(engine, tmp_path / "mail").report(BATCH_ID)  # a redelivered trigger

    assert again is None
    assert len(mails(tmp_path / "mail")) == 1


def test_an_update_report_goes_out_only_when_a_job_changed(engine: Engine, tmp_path: Path) -> None:
    failed_batch(engine)
    reporting = reporter(engine, tmp_path / "mail")
    reporting.report(BATCH_ID)

    COMMAND_HANDLERS[UpdateReporting](engine.app, UpdateReporting(batch_id=BATCH_ID), OPERATOR)
    reporting.report(BATCH_ID)  # nothing changed since the last report
    assert len(mails(tmp_path / "mail")) == 1

    COMMAND_HANDLERS[RetryJob](engine.app, RetryJob(job_uuid=J2), OPERATOR)
    engine.run(J2)
    engine.react()
    COMMAND_HANDLERS[UpdateReporting](engine.app, UpdateReporting(batch_id=BATCH_ID), OPERATOR)
    outcome = reporting.report(BATCH_ID)

    assert outcome is not None and outcome.value == "COMPLETED"
    [update] = [m for m in mails(tmp_path / "mail") if m["Subject"].startswith("Update: ")]
    assert update["Subject"] == f"Update: batch {BATCH_ID} COMPLETED"
    changed = str(update.get_payload()).split("Changed since the last report:")[1].split("\n\n")[0]
    assert changed.strip() == f"{J2}  COMPLETED  (was FAILED)"


def test_reporting_starts_naming_the_jobs_that_did_not_complete(engine: Engine) -> None:
    failed_batch(engine)

    [started] = [r.event for r in engine.store.history([BATCH_ID]) if type(r.event).__name__ == "BatchReportingStarted"]

    assert started.not_completed == [J2]


def test_a_report_of_a_batch_recorded_before_not_completed_existed_looks_at_every_job(
    engine: Engine, tmp_path: Path
) -> None:
    """Events stored by an older version have no `not_completed`: the job states come from the store."""
    failed_batch(engine)
    batch = engine.store.get(BATCH_ID)
    batch.not_completed = None  # as replayed from such an event

    jobs, completed = reporter(engine, tmp_path / "mail")._jobs(batch)

    assert completed == {str(J1)}  # known COMPLETED from the index, not loaded
    assert {j: job.status.value for j, job in jobs.items()} == {str(J2): "FAILED"}
    assert jobs[str(J2)].error is not None and jobs[str(J2)].error.code == "E42"
