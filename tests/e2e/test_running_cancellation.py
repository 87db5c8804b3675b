"""Cancelling a running job (contract v1.1, running jobs), on the real servers and processes."""

from __future__ import annotations

import time

import pytest

from tests.e2e.cli import Cli, job, job_states, new_id, submission
from tests.e2e.mail import reports_for
from tests.e2e.processes import Processes
from tests.threaded_servers import SmtpServer

pytestmark = pytest.mark.timeout(180)


def test_a_running_job_cancelled_stops_its_handler_refuses_its_result_and_the_batch_reports(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    hung, dependent = new_id(), new_id()
    batch_id = cli.submit(
        submission([job("sleep", hung, params={"seconds": 120}), job(job_uuid=dependent, depends_on=[hung])])
    )["result"]["batch_id"]
    cli.wait_for_status(batch_id, lambda d: job_states(d)[hung] == "PROCESSING", what="the job running")
    started = time.monotonic()

    reply = cli.ok("cancel", hung).json()

    assert reply["result"]["status"] == "CANCELLED"
    assert reply["result"]["cancelled_dependents"] == [dependent]
    doc = cli.wait_for_batch(batch_id, "FAILED", timeout=60)
    assert time.monotonic() - started < 60  # not waited out: the handler would sleep 120 s
    assert job_states(doc) == {hung: "CANCELLED", dependent: "CANCELLED"}
    assert {j["schema_version"] for j in doc["jobs"]} == {1}  # the version each job was created under
    system.wait_for_log("worker", "job_cancel_requested")
    types = [e["type"] for e in cli.events(job_uuid=hung)]
    assert types[:2] == ["JobSubmitted", "JobStarted"] and types[-1] == "JobCancelled"  # progress between
    assert set(types[2:-1]) <= {"JobProgressed"}  # and nothing of the attempt after its cancellation
    smtp_server.wait_for(1)
    assert len(reports_for(smtp_server.messages, batch_id)) == 1
