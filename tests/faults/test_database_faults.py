"""PostgreSQL restarted under a running batch: no partial append, no job stuck, no double completion.

`pg_ctl restart -m fast` on the test's own cluster (`private_postgres`) ends every
session of every service at once: the worker's job locks, the dispatcher's and the
relay's leadership locks, the store's pools. The services must step down, reconnect,
take their locks back and carry on (the dispatcher rebuilds its view); the running
jobs whose locks vanished are fenced and run again once. The history checker then
reads the whole log: every job and batch has versions 1, 2, 3, ... (no append half
made), every job completed exactly once, one report email.
"""

from __future__ import annotations

import pytest

from tests.e2e.cli import Cli, job, submission
from tests.e2e.processes import Processes
from tests.faults.private_servers import PrivatePostgres
from tests.faults.verdict import settled_and_sound
from tests.threaded_servers import SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

JOBS = 300
SERVICES = ("dispatcher", "worker", "reporter")


@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="8")
def test_postgresql_restarted_mid_batch(
    private_postgres: PrivatePostgres, system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    pids = {name: system.pid(name) for name in SERVICES}
    doc = submission([job("sleep", params={"seconds": 0.05}) for _ in range(JOBS)])
    cli.submit(doc)
    system.wait_for_log("worker", "job_completed", count=30, timeout=60)

    private_postgres.restart("fast")

    history = settled_and_sound(cli, smtp_server, doc["batch_id"], JOBS, fault="PostgreSQL restarted (pg_ctl -m fast)")
    assert history.figures["torn"] == 0
    assert system.count_log("worker", "job_completed") < JOBS + 30, "the fault came after the batch"
    assert system.count_log("dispatcher", "leadership_regained") >= 1, system.tail("dispatcher")
    for name in SERVICES:
        assert system.alive(name) and system.pid(name) == pids[name], system.tail(name)
    after = submission([job(), job()])
    cli.submit(after)
    cli.wait_for_batch(after["batch_id"], "COMPLETED", timeout=30)
