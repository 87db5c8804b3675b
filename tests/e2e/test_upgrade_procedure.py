"""The README's "Upgrading" procedure, mid-batch: SIGTERM every service, take a checkpoint, dry-run
and run the migrations, start the services again; the batch finishes with nothing lost or repeated."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.e2e.cli import Cli, count_per_aggregate, job, submission, unfinished_restarts
from tests.e2e.mail import reports_for
from tests.e2e.processes import Processes
from tests.faults.checker import check
from tests.threaded_servers import SmtpServer

SERVICES = ("dispatcher", "worker", "reporter")


@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="4")
def test_the_upgrade_procedure_mid_batch_loses_and_repeats_nothing(
    system: Processes, cli: Cli, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    doc = submission([job("sleep", params={"seconds": 0.3}) for _ in range(60)])
    cli.submit(doc)
    system.wait_for_log("worker", "job_completed", count=5, timeout=60)

    for name in SERVICES:
        system.kill(name, signal.SIGTERM)
    cli.ok("checkpoint", "create", "--out", str(tmp_path / "before-upgrade"), "--label", "before-upgrade")
    dry_run = cli.ok("migrate", "--dry-run")
    cli.ok("migrate")
    assert not smtp_server.messages, "the batch finished before the stop: the test proves nothing"
    system.start_many(*SERVICES)

    status = cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=120)
    assert "nothing to do" in dry_run.stdout
    assert {j["status"] for j in status["jobs"]} == {"COMPLETED"}
    events = cli.events(batch_id=doc["batch_id"])
    completed = count_per_aggregate(events, "JobCompleted")
    assert len(completed) == 60 and set(completed.values()) == {1}
    assert unfinished_restarts(events) == {}
    assert len(reports_for(smtp_server.wait_for(1), doc["batch_id"])) == 1 and len(smtp_server.messages) == 1
    check(events, smtp_server.messages).assert_sound()
