"""The four use cases of the seeds (shared/seeds/000, 001), end to end through the `batchq` CLI.

Successful batch; failed batch (then deleted by an admin); failed batch with a successful retry
and an update report; failed batch with an unsuccessful retry, where the update sends nothing;
and two updates in a row, each naming only what changed since the report before it.
Each is checked three ways: `status --json`, the event history (`events --batch --json`), and
the emails the depositor received. And `status --at` rebuilds a batch as it stood in the past.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.e2e.cli import (
    Cli,
    assert_positions_strictly_increase,
    count_per_aggregate,
    job,
    job_doc,
    job_states,
    of_type,
    position_of,
    submission,
    types_of,
)
from tests.e2e.mail import body, changed_section, job_line, reports_for, subject
from tests.e2e.processes import Processes
from tests.threaded_servers import SmtpServer

DEPOSITOR = "depositor@example.org"
ERROR_CODE = "CHECKSUM_MISMATCH"
ERROR_REASON = "payload digest differs from the manifest"


def three_jobs(third: dict[str, object]) -> tuple[dict[str, object], list[str]]:
    """A submission of two noop jobs and `third`; and the three job ids in order."""
    jobs = [job("noop"), job("noop"), third]
    return submission(jobs, depositor_email=DEPOSITOR), [str(j["job_uuid"]) for j in jobs]


def failing_job() -> dict[str, object]:
    return job("fail", params={"code": ERROR_CODE, "reason": ERROR_REASON})


def assert_no_error_logs(processes: Processes) -> None:
    assert processes.errors() == [], processes.errors()


def assert_job_history(events: list[dict[str, object]], job_uuid: str, expected: list[str]) -> None:
    assert types_of(events, job_uuid) == expected, f"job {job_uuid}"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def between(earlier: str, later: str) -> str:
    """An ISO time strictly between two event times (which must differ)."""
    a, b = parse_time(earlier), parse_time(later)
    assert a < b, (earlier, later)
    return (a + (b - a) / 2).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_successful_batch_completes_and_reports_once(system: Processes, cli: Cli, smtp_server: SmtpServer) -> None:
    doc, job_ids = three_jobs(job("noop"))
    batch_id = str(doc["batch_id"])

    reply = cli.submit(doc)

    assert reply["result"] == {"batch_id": batch_id, "jobs": 3, "duplicate": False}
    status = cli.wait_for_batch(batch_id, "COMPLETED")
    assert status["tenant"] == "acme" and status["user_id"] == "depositor-7"
    assert [j["job_uuid"] for j in status["jobs"]] == job_ids
    assert set(job_states(status).values()) == {"COMPLETED"}
    assert all(j["attempts"] == 1 and j["error"] is None for j in status["jobs"])
    assert [(r["kind"], r["status"]) for r in status["reports"]] == [("initial", "COMPLETED")]

    events = cli.events(batch_id=batch_id)
    assert_positions_strictly_increase(events)
    assert all(e["batch_id"] == batch_id and e["tenant"] == "acme" for e in events)
    assert types_of(events, batch_id) == [
        "BatchSubmitted",
        "BatchStarted",
        "BatchReportingStarted",
        "BatchReported",
        "BatchCompleted",
    ]
    for job_uuid in job_ids:
        assert_job_history(events, job_uuid, ["JobSubmitted", "JobStarted", "JobCompleted"])
    last_completion = max(e["position"] for e in of_type(events, "JobCompleted"))
    assert position_of(events, "BatchReportingStarted") > last_completion
    assert position_of(events, "BatchSubmitted") < min(e["position"] for e in of_type(events, "JobSubmitted"))

    [email] = smtp_server.wait_for(1)
    assert batch_id in subject(email) and "COMPLETED" in subject(email)
    assert "FAILED" not in subject(email)
    assert str(email["To"]) == DEPOSITOR
    for job_uuid in job_ids:
        assert "COMPLETED" in job_line(body(email), job_uuid)
    assert len(smtp_server.messages) == 1
    assert_no_error_logs(system)


def test_failed_batch_reports_the_error_and_an_admin_deletes_it(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    doc, job_ids = three_jobs(failing_job())
    batch_id, failed = str(doc["batch_id"]), job_ids[2]

    cli.submit(doc)

    status = cli.wait_for_batch(batch_id, "FAILED")
    assert job_states(status) == {job_ids[0]: "COMPLETED", job_ids[1]: "COMPLETED", failed: "FAILED"}
    error = job_doc(status, failed)["error"]
    assert error["code"] == ERROR_CODE and error["reason"] == ERROR_REASON
    assert [(r["kind"], r["status"]) for r in status["reports"]] == [("initial", "FAILED")]

    [email] = smtp_server.wait_for(1)
    assert batch_id in subject(email) and "FAILED" in subject(email)
    text = body(email)
    failed_line = job_line(text, failed)
    assert "FAILED" in failed_line and ERROR_CODE in failed_line and ERROR_REASON in failed_line
    assert all("COMPLETED" in job_line(text, job_uuid) for job_uuid in job_ids[:2])

    deleted = cli.run("delete", batch_id)
    assert deleted.code == 0, str(deleted)
    assert deleted.json()["ok"] is True

    assert cli.status(batch_id)["status"] == "DELETED"
    events = cli.events(batch_id=batch_id)
    assert_positions_strictly_increase(events)
    assert types_of(events, batch_id) == [
        "BatchSubmitted",
        "BatchStarted",
        "BatchReportingStarted",
        "BatchReported",
        "BatchFailed",
        "BatchDeleted",
    ]
    assert_job_history(events, failed, ["JobSubmitted", "JobStarted", "JobFailed"])
    [job_failed] = of_type(events, "JobFailed", failed)
    assert job_failed["data"]["error"]["code"] == ERROR_CODE
    assert job_failed["data"]["error"]["reason"] == ERROR_REASON
    assert {"traceback", "stage"} <= set(job_failed["data"]["error"])
    assert position_of(events, "BatchReportingStarted") > job_failed["position"]
    assert len(smtp_server.messages) == 1  # deleting sends nothing
    assert_no_error_logs(system)


def test_failed_batch_with_successful_retry_sends_an_update_naming_the_changed_job(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    doc, job_ids = three_jobs(job("flaky", params={"fail_times": 1}))
    batch_id, flaky = str(doc["batch_id"]), job_ids[2]
    cli.submit(doc)
    cli.wait_for_batch(batch_id, "FAILED")
    [first] = smtp_server.wait_for(1)
    assert "FAILED" in subject(first) and flaky in body(first)

    retried = cli.run("retry", flaky, "--reason", "transient network error upstream")

    assert retried.code == 0, str(retried)
    assert retried.json()["ok"] is True
    status = cli.wait_for_status(
        batch_id, lambda d: job_doc(d, flaky)["status"] == "COMPLETED", what=f"job {flaky} COMPLETED"
    )
    assert status["status"] == "FAILED"  # a retried job leaves the batch FAILED until update_reporting
    assert job_doc(status, flaky)["attempts"] == 2

    update = cli.run("update-reporting", batch_id)

    assert update.code == 0, str(update)
    status = cli.wait_for_batch(batch_id, "COMPLETED")
    assert set(job_states(status).values()) == {"COMPLETED"}
    assert [(r["kind"], r["status"]) for r in status["reports"]] == [("initial", "FAILED"), ("update", "COMPLETED")]

    first, second = smtp_server.wait_for(2)
    assert batch_id in subject(second) and "COMPLETED" in subject(second)
    changed = changed_section(body(second))
    assert flaky in changed
    assert job_ids[0] not in changed and job_ids[1] not in changed

    events = cli.events(batch_id=batch_id)
    assert_positions_strictly_increase(events)
    assert types_of(events, batch_id) == [
        "BatchSubmitted",
        "BatchStarted",
        "BatchReportingStarted",
        "BatchReported",
        "BatchFailed",
        "BatchUpdateReportingRequested",
        "BatchReported",
        "BatchCompleted",
    ]
    assert_job_history(
        events, flaky, ["JobSubmitted", "JobStarted", "JobFailed", "JobRetried", "JobStarted", "JobCompleted"]
    )
    [job_retried] = of_type(events, "JobRetried", flaky)
    assert job_retried["data"]["automatic"] is False
    assert job_retried["position"] > position_of(events, "BatchFailed")
    update_report = of_type(events, "BatchReported")[1]
    assert update_report["data"]["kind"] == "update"
    assert update_report["data"]["changed"] == [flaky]
    assert len(smtp_server.messages) == 2
    assert_no_error_logs(system)


def test_failed_batch_with_unsuccessful_retry_sends_no_update_and_is_deleted(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    doc, job_ids = three_jobs(failing_job())
    batch_id, failed = str(doc["batch_id"]), job_ids[2]
    cli.submit(doc)
    cli.wait_for_batch(batch_id, "FAILED")
    smtp_server.wait_for(1)

    retried = cli.run("retry", failed, "--reason", "one more try")

    assert retried.code == 0, str(retried)
    status = cli.wait_for_status(
        batch_id,
        lambda d: job_doc(d, failed)["attempts"] == 2 and job_doc(d, failed)["status"] == "FAILED",
        what=f"job {failed} failing its second attempt",
    )
    assert status["status"] == "FAILED"

    update = cli.run("update-reporting", batch_id)

    assert update.code == 0, str(update)
    events = cli.wait_for_events(
        lambda evs: count_per_aggregate(evs, "BatchFailed")[batch_id] == 2,
        batch_id=batch_id,
        what="the batch failing again after the update request",
    )
    assert types_of(events, batch_id) == [
        "BatchSubmitted",
        "BatchStarted",
        "BatchReportingStarted",
        "BatchReported",
        "BatchFailed",
        "BatchUpdateReportingRequested",
        "BatchFailed",
    ]  # no BatchReported for the update: nothing changed since the last report
    status = cli.status(batch_id)
    assert status["status"] == "FAILED"
    assert job_states(status) == {job_ids[0]: "COMPLETED", job_ids[1]: "COMPLETED", failed: "FAILED"}
    assert len(status["reports"]) == 1
    # The update would have been mailed before BatchFailed was recorded: none was.
    assert len(reports_for(smtp_server.messages, batch_id)) == 1

    deleted = cli.run("delete", batch_id)

    assert deleted.code == 0, str(deleted)
    assert cli.status(batch_id)["status"] == "DELETED"
    assert types_of(cli.events(batch_id=batch_id), batch_id)[-1] == "BatchDeleted"
    assert len(smtp_server.messages) == 1
    assert_no_error_logs(system)


def test_status_at_a_past_time_shows_the_batch_as_it_was_then(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    doc, job_ids = three_jobs(failing_job())
    batch_id, failed = str(doc["batch_id"]), job_ids[2]
    cli.submit(doc)
    cli.wait_for_batch(batch_id, "FAILED")
    cli.ok("retry", failed)
    cli.wait_for_status(
        batch_id,
        lambda d: job_doc(d, failed)["attempts"] == 2 and job_doc(d, failed)["status"] == "FAILED",
        what="the retried job failing again",
    )
    cli.ok("delete", batch_id)
    events = cli.events(batch_id=batch_id)
    batch_failed = of_type(events, "BatchFailed", batch_id)[0]
    job_retried = of_type(events, "JobRetried", failed)[0]
    first_start = min(of_type(events, "JobStarted"), key=lambda e: e["position"])
    submitted = of_type(events, "BatchSubmitted", batch_id)[0]

    after_report = cli.status(batch_id, at=between(batch_failed["occurred_at"], job_retried["occurred_at"]))
    before_any_job = cli.status(batch_id, at=between(submitted["occurred_at"], first_start["occurred_at"]))
    before_submission = cli.run(
        "status", batch_id, "--json", "--at", between("2000-01-01T00:00:00Z", submitted["occurred_at"])
    )
    now = cli.status(batch_id)

    assert after_report["status"] == "FAILED"
    assert job_states(after_report) == {job_ids[0]: "COMPLETED", job_ids[1]: "COMPLETED", failed: "FAILED"}
    assert job_doc(after_report, failed)["attempts"] == 1
    assert [(r["kind"], r["status"]) for r in after_report["reports"]] == [("initial", "FAILED")]
    assert before_any_job["status"] == "PROCESSING"
    assert set(job_states(before_any_job).values()) == {"PENDING"}
    assert before_any_job["reports"] == []
    assert before_submission.code == 1 and "NOT_FOUND" in before_submission.stderr, str(before_submission)
    assert now["status"] == "DELETED"
    assert job_doc(now, failed)["attempts"] == 2


def test_each_update_report_names_only_the_jobs_changed_since_the_previous_report(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    fine, first, second = job("noop"), job("flaky", params={"fail_times": 1}), job("flaky", params={"fail_times": 1})
    doc = submission([fine, first, second], depositor_email=DEPOSITOR)
    batch_id, first_id, second_id = doc["batch_id"], first["job_uuid"], second["job_uuid"]
    cli.submit(doc)
    cli.wait_for_batch(batch_id, "FAILED")

    cli.ok("retry", first_id)
    cli.wait_for_status(batch_id, lambda d: job_doc(d, first_id)["status"] == "COMPLETED", what="first retry done")
    cli.ok("update-reporting", batch_id)
    cli.wait_for_events(
        lambda evs: types_of(evs, batch_id).count("BatchFailed") == 2, batch_id=batch_id, what="first update"
    )
    cli.ok("retry", second_id)
    cli.wait_for_status(batch_id, lambda d: job_doc(d, second_id)["status"] == "COMPLETED", what="second retry done")
    cli.ok("update-reporting", batch_id)
    status = cli.wait_for_batch(batch_id, "COMPLETED")

    initial, update1, update2 = smtp_server.wait_for(3)
    assert "FAILED" in subject(initial)
    assert "FAILED" in subject(update1) and batch_id in subject(update1)  # the second job still FAILED
    assert "COMPLETED" in subject(update2) and batch_id in subject(update2)
    changed1, changed2 = changed_section(body(update1)), changed_section(body(update2))
    assert first_id in changed1 and second_id not in changed1 and fine["job_uuid"] not in changed1
    assert second_id in changed2 and first_id not in changed2 and fine["job_uuid"] not in changed2
    assert [(r["kind"], r["status"]) for r in status["reports"]] == [
        ("initial", "FAILED"),
        ("update", "FAILED"),
        ("update", "COMPLETED"),
    ]
    reported = of_type(cli.events(batch_id=batch_id), "BatchReported")
    assert [r["data"]["changed"] for r in reported[1:]] == [[first_id], [second_id]]
    assert len(smtp_server.messages) == 3
