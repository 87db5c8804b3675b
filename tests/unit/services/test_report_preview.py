"""`batchq report preview` on the embedded store: this code's report for a batch, diffed with the one recorded."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from contracts.commands import RetryJob, UpdateReporting
from domain.batch import Batch
from domain.errors import NotFoundError
from domain.states import BatchStatus
from domain.submission import JobDraft
from services.cli.report import text
from services.dispatcher.admin import COMMAND_HANDLERS
from services.reporter.application import Reporter, report_plan
from services.reporter.mailer import FolderMailer
from services.reporter.preview import preview
from tests.unit.domain.builders import BATCH_ID, draft, job_id
from tests.unit.services.embedded import HANDLER_ERROR, OPERATOR, Engine

J1, J2 = job_id(1), job_id(2)
MAIL_FROM = "batchq@example.org"


def reporter(engine: Engine, folder: Path) -> Reporter:
    return Reporter(engine.store, FolderMailer(folder), MAIL_FROM, lambda: engine.now)


def failed_batch_awaiting_its_report(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2)]))
    engine.run(J1)
    engine.run(J2, error=HANDLER_ERROR)
    engine.react()


def test_a_report_sent_by_this_code_previews_with_no_difference(engine: Engine, tmp_path: Path) -> None:
    failed_batch_awaiting_its_report(engine)
    reporter(engine, tmp_path / "mail").report(BATCH_ID)

    shown = preview(engine.store, BATCH_ID, MAIL_FROM, engine.later(60))

    assert shown.status == "FAILED" and shown.sent is not None and shown.now is not None
    assert shown.diff == "" and shown.now.text == shown.sent.text
    assert shown.now.subject == f"batch {BATCH_ID} FAILED"
    assert "E42: the handler gave up" in shown.now.text
    assert f"Message-ID: <report-1.{BATCH_ID}@batchq>" in shown.now.text
    assert "no difference from the report sent" in text(shown)


def test_a_report_recorded_with_another_outcome_shows_in_the_diff(engine: Engine) -> None:
    failed_batch_awaiting_its_report(engine)
    batch: Batch = engine.store.get(BATCH_ID)
    jobs = {str(k): v for k, v in engine.store.get_many(batch.job_uuids).items()}
    # What an older reporter could have recorded: the same jobs, counted COMPLETED.
    older = dataclasses.replace(report_plan(batch, jobs), outcome=BatchStatus.COMPLETED)
    batch.conclude(older, f"<older-{BATCH_ID}@batchq>", engine.later(1))
    engine.store.save(batch)

    shown = preview(engine.store, BATCH_ID, MAIL_FROM, engine.later(60))

    assert f"-Subject: batch {BATCH_ID} COMPLETED\n" in shown.diff
    assert f"+Subject: batch {BATCH_ID} FAILED\n" in shown.diff
    assert f"-Message-ID: <older-{BATCH_ID}@batchq>\n" in shown.diff
    assert shown.diff.startswith("--- sent (BatchReported at position")
    assert shown.as_dict()["difference"] is True and shown.diff.rstrip("\n") in text(shown)


def test_a_batch_awaiting_its_report_previews_the_report_owed(engine: Engine) -> None:
    failed_batch_awaiting_its_report(engine)

    shown = preview(engine.store, BATCH_ID, MAIL_FROM, engine.later(60))

    assert shown.status == "REPORTING" and shown.sent is None and shown.diff == ""
    assert shown.now is not None and shown.now.kind == "initial" and shown.now.outcome == "FAILED"
    assert "none of it has been sent" in shown.note


def test_the_last_of_several_reports_is_compared(engine: Engine, tmp_path: Path) -> None:
    failed_batch_awaiting_its_report(engine)
    reporting = reporter(engine, tmp_path / "mail")
    reporting.report(BATCH_ID)
    COMMAND_HANDLERS[RetryJob](engine.app, RetryJob(job_uuid=J2), OPERATOR)
    engine.run(J2)
    engine.react()
    COMMAND_HANDLERS[UpdateReporting](engine.app, UpdateReporting(batch_id=BATCH_ID), OPERATOR)
    reporting.report(BATCH_ID)

    shown = preview(engine.store, BATCH_ID, MAIL_FROM, engine.later(60))

    assert shown.status == "COMPLETED" and shown.diff == ""
    assert shown.now is not None and shown.now.kind == "update"
    assert f"{J2}  COMPLETED  (was FAILED)" in shown.now.text


def test_an_update_with_nothing_changed_previews_as_nothing_sent(engine: Engine, tmp_path: Path) -> None:
    failed_batch_awaiting_its_report(engine)
    reporter(engine, tmp_path / "mail").report(BATCH_ID)
    COMMAND_HANDLERS[UpdateReporting](engine.app, UpdateReporting(batch_id=BATCH_ID), OPERATOR)

    shown = preview(engine.store, BATCH_ID, MAIL_FROM, engine.later(60))

    assert shown.status == "UPDATE_REPORTING" and shown.now is None and shown.sent is None
    assert "would send nothing" in shown.note


def test_a_batch_still_running_has_no_report_to_preview(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1)]))

    shown = preview(engine.store, BATCH_ID, MAIL_FROM, engine.later(1))

    assert shown.now is None and shown.sent is None
    assert "no report was sent and none is owed" in text(shown)


@pytest.mark.parametrize("unknown", [job_id(99), J1], ids=["no aggregate", "a job, not a batch"])
def test_an_unknown_batch_is_not_found(engine: Engine, unknown: object) -> None:
    engine.submit(draft([JobDraft(J1)]))

    with pytest.raises(NotFoundError):
        preview(engine.store, unknown, MAIL_FROM, engine.later(1))  # type: ignore[arg-type]
