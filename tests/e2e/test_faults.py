"""Crashes and hangs of real processes: nothing is lost, nothing the store records is duplicated.

(a) a worker SIGKILLed mid-job: the attempt is fenced off as WORKER_LOST and re-run elsewhere;
(b) the dispatcher and the reporter SIGKILLed half-way through a 500-job batch, then restarted;
(c) a worker SIGSTOPped past BATCHQ_STUCK_AFTER_SECONDS: JobStuck, the job re-runs on another
    worker, and the old worker's late result is refused once it is SIGCONTinued;
and a worker stopped with SIGTERM finishes its job first; and the services carry on after
PostgreSQL or RabbitMQ drop their connections (a server restart as the services see it).
"""

from __future__ import annotations

import os
import signal
import time

import psycopg
import pytest

from tests.e2e.broker import publish_requests, request
from tests.e2e.cli import (
    Cli,
    attempts_of,
    count_per_aggregate,
    job,
    new_id,
    of_type,
    submission,
    types_of,
    unfinished_restarts,
)
from tests.e2e.mail import reports_for, subject
from tests.e2e.outages import drop_broker_connections, drop_database_connections
from tests.e2e.processes import Processes
from tests.faults.checker import check
from tests.servers import RabbitServer
from tests.threaded_servers import SmtpServer


def wait_for_a_worker_to_start(processes: Processes, job_uuid: str, workers: list[str], timeout: float = 30) -> str:
    """The worker that logs `job_started` for `job_uuid` first (its log is quicker to read than the CLI)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in workers:
            if any(
                e.get("event") == "job_started" and e.get("job_uuid") == job_uuid for e in processes.log_events(worker)
            ):
                return worker
        time.sleep(0.02)
    raise AssertionError(f"no worker started job {job_uuid} within {timeout} s")


def test_a_worker_killed_mid_job_is_replaced_and_the_job_completes_once(
    migrated: Cli, processes: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    processes.start_many("dispatcher", "worker-1", "reporter")
    slow = new_id()
    doc = submission([job("sleep", job_uuid=slow, params={"seconds": 3}), job()])
    cli.submit(doc)
    processes.wait_for_log("worker-1", "job_started", count=2)

    processes.kill("worker-1", signal.SIGKILL)
    processes.start("worker-2")

    status = cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=60)
    assert {j["status"] for j in status["jobs"]} == {"COMPLETED"}
    events = cli.events(batch_id=doc["batch_id"])
    attempts = attempts_of(events, slow)
    assert count_per_aggregate(events, "JobCompleted")[slow] == 1, attempts
    [completing] = [n for n, a in attempts.items() if ("JobCompleted", None) in a["ends"]]
    assert attempts[completing]["worker_id"] == "worker-2", attempts
    killed = [n for n, a in attempts.items() if a["worker_id"] == "worker-1"]
    assert killed, attempts
    assert attempts[max(killed)]["ends"] == [("JobFailed", "WORKER_LOST")], attempts
    assert all(len(a["ends"]) == 1 for a in attempts.values()), attempts  # every attempt ended exactly once
    assert unfinished_restarts(events) == {}
    [email] = smtp_server.wait_for(1)
    assert "COMPLETED" in subject(email)


@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="4")
def test_killing_the_dispatcher_and_reporter_mid_batch_loses_and_duplicates_nothing(
    migrated: Cli, processes: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    processes.start_many("dispatcher", "reporter")
    doc = submission([job() for _ in range(500)])
    cli.submit(doc)  # every job is dispatched before any worker runs
    processes.start_many("worker")
    processes.wait_for_log("worker", "job_completed", count=100, timeout=60)

    processes.kill("dispatcher", signal.SIGKILL)
    processes.kill("reporter", signal.SIGKILL)
    done_at_kill = processes.count_log("worker", "job_completed")
    processes.wait_for_log("worker", "job_completed", count=done_at_kill + 50, timeout=60)  # work goes on meanwhile
    processes.start_many("dispatcher")
    # The batch reaches REPORTING while no reporter runs; the one started then owes the report.
    cli.wait_for_status(doc["batch_id"], lambda d: d["status"] == "REPORTING", timeout=120, what="REPORTING")
    processes.start_many("reporter")

    status = cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=60)
    assert done_at_kill < 500, "the batch was finished before the kill: the test proves nothing"
    assert {j["status"] for j in status["jobs"]} == {"COMPLETED"}
    events = cli.events(batch_id=doc["batch_id"])
    completed = count_per_aggregate(events, "JobCompleted")
    assert len(completed) == 500 and set(completed.values()) == {1}
    assert unfinished_restarts(events) == {}
    assert types_of(events, doc["batch_id"]) == [
        "BatchSubmitted",
        "BatchStarted",
        "BatchReportingStarted",
        "BatchReported",
        "BatchCompleted",
    ]
    assert len(reports_for(smtp_server.wait_for(1), doc["batch_id"])) == 1
    assert len(smtp_server.messages) == 1
    check(events, smtp_server.messages).assert_sound()


def test_a_standby_dispatcher_takes_over_when_the_leader_dies(
    migrated: Cli, processes: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    processes.start_many("dispatcher-1", "worker", "reporter")
    processes.start("dispatcher-2", wait=False)  # waits for the leadership lock: a standby
    first = submission([job()])
    cli.submit(first)
    cli.wait_for_batch(first["batch_id"], "COMPLETED")
    assert processes.count_log("dispatcher-2", "dispatcher_started") == 0

    processes.kill("dispatcher-1", signal.SIGKILL)

    processes.wait_for_log("dispatcher-2", "dispatcher_started", timeout=30)
    second = submission([job(), job("fail")])
    cli.submit(second)
    cli.wait_for_batch(second["batch_id"], "FAILED")
    assert len(smtp_server.wait_for(2)) == 2
    assert types_of(cli.events(batch_id=first["batch_id"])).count("BatchReported") == 1


@pytest.mark.batchq_env(BATCHQ_STUCK_AFTER_SECONDS="3")
def test_a_stopped_worker_is_flagged_stuck_and_its_late_result_refused(
    migrated: Cli, processes: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    processes.start_many("dispatcher", "worker-1", "worker-2", "reporter")
    slow = new_id()
    doc = submission([job("sleep", job_uuid=slow, params={"seconds": 3})])
    cli.submit(doc)
    hung = wait_for_a_worker_to_start(processes, slow, ["worker-1", "worker-2"])
    other = {"worker-1": "worker-2", "worker-2": "worker-1"}[hung]

    processes.kill(hung, signal.SIGSTOP)
    try:
        status = cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=60)
    finally:
        processes.kill(hung, signal.SIGCONT)

    assert status["jobs"][0]["status"] == "COMPLETED"
    events = cli.events(job_uuid=slow)
    [stuck] = of_type(events, "JobStuck")
    assert stuck["data"]["attempt"] == 1
    assert stuck["data"]["silent_seconds"] >= 3
    attempts = attempts_of(events, slow)
    assert attempts[1]["worker_id"] == hung
    assert attempts[1]["ends"] == [("JobFailed", "JOB_STUCK")], attempts
    [completing] = [n for n, a in attempts.items() if ("JobCompleted", None) in a["ends"]]
    assert attempts[completing]["worker_id"] == other

    processes.wait_for_log(hung, "late_result_refused", timeout=20)
    events = cli.events(job_uuid=slow)
    assert count_per_aggregate(events, "JobCompleted")[slow] == 1
    assert unfinished_restarts(events) == {}
    assert next(e for e in processes.log_events(hung) if e.get("event") == "late_result_refused")["attempt"] == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_a_worker_stopped_with_sigterm_finishes_its_running_job_first(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    slow = new_id()
    doc = submission([job("sleep", job_uuid=slow, params={"seconds": 3})])
    cli.submit(doc)
    processes = system
    running = cli.wait_for_status(
        doc["batch_id"],
        lambda d: d["jobs"][0]["status"] == "PROCESSING" and (d["jobs"][0]["progress"] or 0) > 0,
        what="the job running and reporting progress",
        interval=0.1,
    )
    assert 0 < running["jobs"][0]["progress"] < 1

    processes.kill("worker", signal.SIGTERM)

    assert processes.running["worker"].process.returncode == 0, processes.tail("worker")
    assert processes.count_log("worker", "worker_stopped") == 1
    status = cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=30)
    assert status["jobs"][0]["attempts"] == 1
    events = cli.events(job_uuid=slow)
    assert attempts_of(events, slow) == {1: {"worker_id": "worker", "ends": [("JobCompleted", None)]}}
    assert len(smtp_server.wait_for(1)) == 1


def test_a_submission_right_after_postgresql_drops_its_connections_is_answered(
    system: Processes, cli: Cli, database_url: str, amqp_url: str
) -> None:
    warm = submission([job()])
    cli.submit(warm)
    cli.wait_for_batch(warm["batch_id"], "COMPLETED")

    assert drop_database_connections(database_url) >= 3  # a PostgreSQL restart, as the services see it

    doc = submission([job()])
    sent = request(doc)
    replies = publish_requests(amqp_url, [sent], timeout=15)  # not dead-lettered by requeues on dead connections
    assert replies[sent.correlation_id]["ok"] is True, replies
    assert cli.status(doc["batch_id"])["status"] in ("PROCESSING", "REPORTING", "COMPLETED")


def test_a_worker_runs_jobs_again_after_postgresql_drops_its_connections(
    system: Processes, cli: Cli, database_url: str, smtp_server: SmtpServer
) -> None:
    warm = submission([job()])
    cli.submit(warm)
    cli.wait_for_batch(warm["batch_id"], "COMPLETED")

    assert drop_database_connections(database_url) >= 3
    # A fresh dispatcher and reporter, so that only the worker lives through the outage.
    for name in ("dispatcher", "reporter"):
        system.kill(name, signal.SIGTERM)
    system.start_many("dispatcher", "reporter")

    doc = submission([job(), job(), job()])
    cli.submit(doc)
    cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=10)
    assert len(smtp_server.wait_for(2)) == 2


def test_the_system_carries_on_after_the_broker_drops_its_connections(
    system: Processes, cli: Cli, amqp_url: str, rabbitmq_server: RabbitServer, smtp_server: SmtpServer
) -> None:
    warm = submission([job()])
    cli.submit(warm)
    cli.wait_for_batch(warm["batch_id"], "COMPLETED")

    drop_broker_connections(rabbitmq_server, amqp_url, expected=3)  # dispatcher, worker, reporter

    doc = submission([job(), job(), job()])
    sent = request(doc)
    replies = publish_requests(amqp_url, [sent], timeout=12)  # aio-pika reconnects within 5 s
    assert replies[sent.correlation_id]["ok"] is True
    cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=20)
    assert all(system.alive(name) for name in ("dispatcher", "worker", "reporter"))


def test_the_dispatcher_lives_through_repeated_database_outages_mid_batch(
    system: Processes, cli: Cli, database_url: str, smtp_server: SmtpServer
) -> None:
    """Before: the dispatcher logged `leadership_lost`, signalled itself and exited, and the batch
    stayed PROCESSING for ever. Now it steps down, takes its lock back and carries on."""
    dispatcher = system.pid("dispatcher")
    doc = submission([job() for _ in range(1000)])
    cli.submit(doc)
    for _ in range(3):
        time.sleep(1.5)
        drop_database_connections(database_url)
    cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=90)
    assert system.alive("dispatcher") and system.pid("dispatcher") == dispatcher
    assert len(smtp_server.wait_for(1)) == 1
    events = cli.events(batch_id=doc["batch_id"])
    completed = count_per_aggregate(events, "JobCompleted")
    assert len(completed) == 1000 and set(completed.values()) == {1}
    check(events, smtp_server.messages).assert_sound()


def test_a_reporter_killed_between_sending_and_recording_resends_the_same_report(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    """At most one distinct report: the resend after the crash carries the same Message-ID and content."""
    reporter = system.pid("reporter")
    smtp_server.on_message = lambda _message: os.kill(reporter, signal.SIGKILL)
    doc = submission([job(), job()])
    cli.submit(doc)
    smtp_server.wait_for(1, timeout=30)
    smtp_server.on_message = None
    cli.wait_for_status(doc["batch_id"], lambda d: d["status"] == "REPORTING", timeout=30, what="REPORTING")
    assert not system.alive("reporter")

    system.start_many("reporter")
    cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=30)
    first, again = smtp_server.wait_for(2)
    assert first["Message-ID"] == again["Message-ID"]
    events = cli.events(batch_id=doc["batch_id"])
    assert len(of_type(events, "BatchReported")) == 1
    check(events, smtp_server.messages).assert_sound()


def test_a_worker_whose_lock_connection_is_killed_mid_job_completes_the_job_once(
    system: Processes, cli: Cli, database_url: str, smtp_server: SmtpServer
) -> None:
    """The worker lives, but its job's lock vanished with the connection: the attempt is fenced off
    (WORKER_LOST), the job runs again, and the first attempt's late result is refused."""
    slow = new_id()
    doc = submission([job("sleep", job_uuid=slow, params={"seconds": 5}), job()])
    cli.submit(doc)
    system.wait_for_log("worker", "job_started", count=2)

    assert terminate_job_lock_holders(database_url) == 1

    cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=60)
    events = cli.events(batch_id=doc["batch_id"])
    assert [f["data"]["error"]["code"] for f in of_type(events, "JobFailed", slow)] == ["WORKER_LOST"]
    assert count_per_aggregate(events, "JobCompleted")[slow] == 1
    check(events, smtp_server.wait_for(1)).assert_sound()


def terminate_job_lock_holders(database_url: str) -> int:
    """Kill the sessions holding job locks (advisory locks other than the dispatcher's and relay's)."""
    leader_keys = (0x62617463685F71, 0x62617463685F72)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT pid) FROM (SELECT pid, pg_terminate_backend(pid) FROM pg_locks"
            " WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND ((classid::bigint << 32) | objid::bigint) <> ALL(%s)) AS killed",
            (list(leader_keys),),
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_standby_dispatcher_stops_on_sigterm(migrated: Cli, processes: Processes) -> None:
    """Before: a standby waiting for the lock inside its start-up never got to its SIGTERM handling."""
    processes.start("dispatcher-1")
    processes.start("dispatcher-2", wait=False)
    time.sleep(3)  # connected, waiting for the leadership lock
    assert processes.count_log("dispatcher-2", "dispatcher_started") == 0
    running = processes.running["dispatcher-2"]
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=15) == 0
    assert processes.alive("dispatcher-1")
