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

import os
import random
import signal
import time

import psycopg
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
    # It notices within its leadership check (5 s), which may come after the batch is done.
    system.wait_for_log("dispatcher", "leadership_regained", timeout=30)
    for name in SERVICES:
        assert system.alive(name) and system.pid(name) == pids[name], system.tail(name)
    after = submission([job(), job()])
    cli.submit(after)
    cli.wait_for_batch(after["batch_id"], "COMPLETED", timeout=30)


IDLE_LOCK_HOLDER = """
SELECT a.pid, a.xact_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'ExclusiveLock'
  AND l.relation = 'batchq_events'::regclass AND a.state = 'idle in transaction'
"""


def idle_lock_holder(database_url: str) -> tuple[int, object] | None:
    """The session idle in a transaction that holds the events table's append lock, and when it began, if any."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(IDLE_LOCK_HOLDER).fetchone()
    return (int(row[0]), row[1]) if row else None


def stop_inside_the_table_lock(processes: Processes, name: str, database_url: str, tries: int = 300) -> int:
    """SIGSTOP `name` at random instants until it is caught holding the append lock; its session's pid.

    A session seen idle in the same transaction twice, 0.3 s apart, is the stopped one:
    a running writer commits sooner. The same session alone is not enough: a busy writer
    that is not stopped (the other worker) takes the lock again and again on one pooled
    connection, so two looks can each find it between two statements of a different
    append; the test then waited for a healthy session to be ended (about 1 run in 5).
    """
    pid = processes.pid(name)
    for _ in range(tries):
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.05)
        holder = idle_lock_holder(database_url)
        if holder is not None:
            time.sleep(0.3)
            if idle_lock_holder(database_url) == holder:
                return holder[0]
        os.kill(pid, signal.SIGCONT)
        time.sleep(random.uniform(0.0, 0.03))
    raise AssertionError(f"{name} was never caught inside the table lock in {tries} tries")


def session(database_url: str, pid: int) -> tuple[object, ...] | None:
    """The session's state, when it last changed, what it waits for and its last statement; None once gone."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(
            "SELECT state, now() - state_change, wait_event_type, wait_event, left(query, 200)"
            " FROM pg_stat_activity WHERE pid = %s",
            (pid,),
        ).fetchone()


@pytest.mark.timeout(150)  # its private servers start inside it: 65-86 s on a busy 2-core machine
@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="8")
def test_a_writer_stalled_inside_the_table_lock_is_cut_off_and_its_jobs_recovered(
    migrated: Cli, processes: Processes, cli: Cli, database_url: str, smtp_server: SmtpServer
) -> None:
    """A worker stopped mid-append holds the lock every append takes. The server ends its
    session (the store sets idle_in_transaction_session_timeout, 5 s) sooner than the
    others' lock_timeout (10 s), so they wait at most that long and carry on."""
    processes.start_many("dispatcher", "worker-1", "worker-2", "reporter")
    doc = submission([job("sleep", params={"seconds": 0.05}) for _ in range(600)])
    cli.submit(doc)
    processes.wait_for_log("worker-1", "job_completed", count=20, timeout=60)

    holder = stop_inside_the_table_lock(processes, "worker-1", database_url)
    stopped_at = time.monotonic()
    try:
        while (seen := session(database_url, holder)) is not None:
            assert time.monotonic() - stopped_at < 15, f"the stalled session was not ended by the server: {seen}"
            time.sleep(0.2)
        cut_off_after = time.monotonic() - stopped_at
        done = processes.count_log("worker-2", "job_completed")
        processes.wait_for_log("worker-2", "job_completed", count=done + 20, timeout=20)  # others carry on
    finally:
        processes.kill("worker-1", signal.SIGCONT)

    settled_and_sound(cli, smtp_server, doc["batch_id"], 600, fault="a worker SIGSTOPped inside the append lock")
    assert cut_off_after < 10, cut_off_after
    assert processes.alive("worker-1"), processes.tail("worker-1")
