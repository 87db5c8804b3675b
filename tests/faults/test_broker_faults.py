"""RabbitMQ restarted, killed and stalled under a running batch: nothing lost, nothing twice, all back.

Each test runs the real dispatcher, worker and reporter against a RabbitMQ node of
its own (`private_rabbitmq`), injects the fault once the batch is under way, and
then asks: did the batch complete with every job completed exactly once and one
report email (the history checker finds nothing), are all the services still the
same processes (they reconnect: no supervisor is needed), has every service queue
its consumer again, and is a new submission answered in bounded time.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.cli import Cli, job, submission
from tests.e2e.processes import Processes
from tests.faults.broker import answered_after_the_fault, wait_for_consumers
from tests.faults.private_servers import PrivateRabbit
from tests.faults.verdict import settled_and_sound
from tests.threaded_servers import SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

JOBS = 300
SERVICES = ("dispatcher", "worker", "reporter")
# Short jobs, few at a time: the batch takes some seconds, so the fault lands mid-batch.
MID_BATCH = {"BATCHQ_WORKER_CONCURRENCY": "8"}


@pytest.fixture
def e2e_env(e2e_env: dict[str, str]) -> dict[str, str]:
    """Heartbeats every 2 s: aiormq gives a connection up after (2 + 1) x 3 = 9 s without a frame."""
    return {**e2e_env, "BATCHQ_AMQP_URL": e2e_env["BATCHQ_AMQP_URL"] + "?heartbeat=2"}


def a_batch_under_way(cli: Cli, processes: Processes, done: int = 30) -> str:
    doc = submission([job("sleep", params={"seconds": 0.05}) for _ in range(JOBS)])
    cli.submit(doc)
    processes.wait_for_log("worker", "job_completed", count=done, timeout=60)
    return str(doc["batch_id"])


def all_alive_and_the_same(processes: Processes, pids: dict[str, int]) -> None:
    for name in SERVICES:
        assert processes.alive(name) and processes.pid(name) == pids[name], processes.tail(name)


@pytest.mark.batchq_env(**MID_BATCH)
def test_rabbitmq_stop_app_and_start_app_mid_batch(
    private_rabbitmq: PrivateRabbit, amqp_url: str, system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    pids = {name: system.pid(name) for name in SERVICES}
    batch_id = a_batch_under_way(cli, system)

    private_rabbitmq.stop_app()
    time.sleep(3)
    private_rabbitmq.start_app()

    settled_and_sound(cli, smtp_server, batch_id, JOBS, fault="rabbitmqctl stop_app / start_app")
    assert system.count_log("worker", "job_completed") < JOBS + 30, "the fault came after the batch"
    wait_for_consumers(private_rabbitmq, amqp_url)
    answered_after_the_fault(cli, amqp_url)
    all_alive_and_the_same(system, pids)


@pytest.mark.batchq_env(**MID_BATCH)
def test_rabbitmq_killed_and_restarted_mid_batch(
    private_rabbitmq: PrivateRabbit, amqp_url: str, system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    """SIGKILL: no goodbye to any client, and only what the broker had confirmed is on disk."""
    pids = {name: system.pid(name) for name in SERVICES}
    batch_id = a_batch_under_way(cli, system)

    private_rabbitmq.kill()
    time.sleep(1)
    private_rabbitmq.start()

    settled_and_sound(cli, smtp_server, batch_id, JOBS, fault="RabbitMQ SIGKILLed, restarted")
    assert system.count_log("worker", "job_completed") < JOBS + 30, "the fault came after the batch"
    wait_for_consumers(private_rabbitmq, amqp_url)
    answered_after_the_fault(cli, amqp_url)
    all_alive_and_the_same(system, pids)


STALL_SECONDS = 12  # 6 heartbeats: past aiormq's 9 s grace, so the stall is detected, not just sat out


@pytest.mark.batchq_env(**MID_BATCH)
def test_rabbitmq_stalled_past_the_heartbeat_mid_batch(
    private_rabbitmq: PrivateRabbit, amqp_url: str, system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    """SIGSTOP: the sockets stay open and silent; only missed heartbeats tell the services."""
    pids = {name: system.pid(name) for name in SERVICES}
    batch_id = a_batch_under_way(cli, system)

    private_rabbitmq.stall()
    try:
        time.sleep(STALL_SECONDS)
    finally:
        private_rabbitmq.resume()

    settled_and_sound(cli, smtp_server, batch_id, JOBS, fault=f"RabbitMQ SIGSTOPped {STALL_SECONDS} s (heartbeat 2 s)")
    detected = [name for name in SERVICES if "was stuck" in system.logs(name)]
    assert set(detected) == set(SERVICES), f"only {detected} noticed the stalled broker"
    wait_for_consumers(private_rabbitmq, amqp_url)
    answered_after_the_fault(cli, amqp_url)
    all_alive_and_the_same(system, pids)
