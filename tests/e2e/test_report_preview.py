"""`batchq report preview` as an operator runs it before shipping: the report this code would send
for a batch that ran to its report on the real servers, the same as the email that went out."""

from __future__ import annotations

from tests.e2e.cli import Cli, job, new_id, submission
from tests.e2e.mail import body, reports_for
from tests.e2e.processes import Processes
from tests.e2e.test_cli import assert_one_clear_line
from tests.threaded_servers import SmtpServer


def test_a_reported_batch_previews_as_the_email_sent_with_no_difference(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    doc = submission([job("noop"), job("fail", params={"code": "E_PAYLOAD", "reason": "no payload"})])
    cli.submit(doc)
    cli.wait_for_batch(doc["batch_id"], "FAILED", timeout=60)
    [sent] = reports_for(smtp_server.wait_for(1), doc["batch_id"])

    shown = cli.ok("report", "preview", doc["batch_id"])
    as_json = cli.ok("report", "preview", doc["batch_id"], "--json").json()

    assert f"Subject: batch {doc['batch_id']} FAILED" in shown.stdout
    assert "E_PAYLOAD: no payload" in shown.stdout
    assert shown.stdout.rstrip().endswith("no difference from the report sent")
    assert as_json["difference"] is False and as_json["diff"] == ""
    report = as_json["report"]
    assert report["body"] == body(sent) and report["subject"] == sent["Subject"]
    assert report["message_id"] == sent["Message-ID"] == as_json["sent"]["message_id"]
    assert f"Date: {sent['Date']}" in report["text"]


def test_an_unknown_batch_is_refused_not_found(migrated: Cli) -> None:
    result = migrated.run("report", "preview", new_id())

    assert result.code == 1, str(result)
    assert_one_clear_line(result.stderr, "NOT_FOUND")
