"""The network between one worker and RabbitMQ reset, then partitioned, mid-batch: nothing lost, nothing twice.

Two workers share the batch. `worker-1` reaches the broker through a TCP proxy the
test controls (`tests/faults/tcp_proxy.py`); `worker-2`, the dispatcher and the
reporter connect directly. Mid-batch the proxy first aborts every connection of
`worker-1` at once (reset), and once `worker-1` completes jobs again, it partitions
it for 30 s, as the issue asks (blackhole: the sockets stay open and silent; well past
both sides' heartbeat grace, 2 s here).

The reset loses the acks of jobs `worker-1` had just completed, and the broker gives
the silent connection up and redelivers what it held unacknowledged; `worker-1` still
records the jobs it holds (its database is not cut), so whoever gets a redelivery must
find the job completed, not run it a second time.
The history checker then reads the whole log: every job completed exactly once, one
report email. Afterwards `worker-1` is the same process, consumes again and completes
jobs of a second batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e.cli import Cli, count_per_aggregate, job, submission
from tests.e2e.processes import Processes
from tests.faults.broker import vhost_of
from tests.faults.private_servers import PrivateRabbit
from tests.faults.tcp_proxy import TcpProxy
from tests.faults.verdict import settled_and_sound
from tests.threaded_servers import SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

JOBS = 300
BLACKHOLE_SECONDS = 30
JOBS_QUEUE = "batchq.jobs.default"


@pytest.fixture
def e2e_env(e2e_env: dict[str, str]) -> dict[str, str]:
    """Heartbeats every 2 s: aiormq gives a connection up after (2 + 1) x 3 = 9 s without a frame."""
    return {**e2e_env, "BATCHQ_AMQP_URL": e2e_env["BATCHQ_AMQP_URL"] + "?heartbeat=2"}


@pytest.fixture
def broker_proxy(private_rabbitmq: PrivateRabbit) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", private_rabbitmq.port) as proxy:
        yield proxy


def through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))


def wait_for_job_consumers(rabbit: PrivateRabbit, amqp_url: str, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (consumers := rabbit.consumers(vhost_of(amqp_url)))[JOBS_QUEUE] != count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{JOBS_QUEUE} has not {count} consumers after {timeout} s: {dict(consumers)}")
        time.sleep(0.5)


def completed_by(cli: Cli, batch_id: str) -> dict[str, int]:
    """How many of the batch's jobs each worker ran to completion (by the attempt's JobStarted)."""
    events = cli.events(batch_id=batch_id)
    completed = count_per_aggregate(events, "JobCompleted")
    runners = {e["aggregate_id"]: e["data"]["worker_id"] for e in events if e["type"] == "JobStarted"}
    totals: dict[str, int] = {}
    for job_id in completed:
        worker = runners.get(job_id, "?")
        totals[worker] = totals.get(worker, 0) + 1
    return totals


def running_batch(
    processes: Processes, rabbit: PrivateRabbit, amqp_url: str, cli: Cli, proxied_env: dict[str, str], timeout: float
) -> tuple[int, dict[str, object]]:
    """worker-1 through a proxy (`proxied_env`), worker-2 direct; a batch running, worker-1 has completed
    10 of its jobs. (worker-1's pid, the batch)."""
    processes.start_many("dispatcher", "worker-2", "reporter")
    processes.start("worker-1", env=proxied_env)
    proxied = processes.pid("worker-1")
    wait_for_job_consumers(rabbit, amqp_url, 2)
    doc = submission([job("sleep", params={"seconds": 0.3}) for _ in range(JOBS)])
    cli.submit(doc)
    processes.wait_for_log("worker-1", "job_completed", count=10, timeout=timeout)
    return proxied, doc


def assert_mid_batch(processes: Processes) -> None:
    so_far = sum(processes.count_log(name, "job_completed") for name in ("worker-1", "worker-2"))
    assert so_far < JOBS - 50, f"{so_far} of {JOBS} jobs done before the fault: not mid-batch"


def reset_mid_batch(
    processes: Processes,
    rabbit: PrivateRabbit,
    amqp_url: str,
    cli: Cli,
    proxy: TcpProxy,
    proxied_env: dict[str, str],
    timeout: float,
) -> tuple[int, dict[str, object]]:
    """A batch running (`running_batch`); worker-1's connections reset and worker-1 working again; not yet
    past the batch's middle. (worker-1's pid, the batch)."""
    proxied, doc = running_batch(processes, rabbit, amqp_url, cli, proxied_env, timeout)
    assert proxy.reset() >= 1
    done = processes.count_log("worker-1", "job_completed")
    processes.wait_for_log("worker-1", "job_completed", count=done + 10, timeout=timeout)  # back after the reset
    assert_mid_batch(processes)
    return proxied, doc


def worker_1_recovered(processes: Processes, cli: Cli, proxied: int, timeout: float) -> None:
    """worker-2 did not do it all; worker-1 is the same process and runs jobs of a new batch."""
    assert processes.count_log("worker-2", "job_completed") < JOBS, "worker-2 ran the whole batch alone"
    assert processes.alive("worker-1") and processes.pid("worker-1") == proxied, processes.tail("worker-1")
    after = submission([job("sleep", params={"seconds": 0.3}) for _ in range(24)])
    cli.submit(after)
    cli.wait_for_batch(after["batch_id"], "COMPLETED", timeout=timeout)
    assert completed_by(cli, after["batch_id"]).get("worker-1", 0) >= 1, completed_by(cli, after["batch_id"])


@pytest.mark.timeout(240)
@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="4")
def test_a_workers_broker_connection_reset_then_blackholed_mid_batch(
    private_rabbitmq: PrivateRabbit,
    broker_proxy: TcpProxy,
    amqp_url: str,
    e2e_env: dict[str, str],
    migrated: Cli,
    processes: Processes,
    cli: Cli,
    smtp_server: SmtpServer,
) -> None:
    proxied_env = {"BATCHQ_AMQP_URL": through(e2e_env["BATCHQ_AMQP_URL"], broker_proxy)}
    proxied, doc = reset_mid_batch(processes, private_rabbitmq, amqp_url, cli, broker_proxy, proxied_env, 60)
    broker_proxy.blackhole(BLACKHOLE_SECONDS)
    time.sleep(BLACKHOLE_SECONDS + 1)
    assert "was stuck" in processes.logs("worker-1"), "worker-1 did not notice the partition"
    assert "missed heartbeats" in private_rabbitmq.log_text(), "the broker did not give worker-1 up"

    fault = f"worker-1's AMQP connection reset, then blackholed {BLACKHOLE_SECONDS} s (heartbeat 2 s)"
    settled_and_sound(cli, smtp_server, str(doc["batch_id"]), JOBS, fault=fault)
    wait_for_job_consumers(private_rabbitmq, amqp_url, 2)
    worker_1_recovered(processes, cli, proxied, 60)
