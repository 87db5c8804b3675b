"""500 ms of latency on one worker's broker and database connections, mid-batch: slower, nothing lost or doubled.

Two workers share the batch. `worker-1` reaches both RabbitMQ and PostgreSQL through TCP
proxies the test controls (`tests/faults/tcp_proxy.py`); everything else connects
directly. Mid-batch both proxies hold every chunk 500 ms each way (a round trip of a
second, for each statement of an append and each ack) for 20 s, then pass again. No
connection breaks: every heartbeat and lock stays, so nothing must be fenced; the
worker only gets slow. The history checker then reads the whole log: every job
completed exactly once, one report email, the read model equal to the replay; the
batch settles within a bound, and `worker-1`, the same process, completes jobs of a
second batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.cli import Cli
from tests.e2e.processes import Processes
from tests.faults.private_servers import PrivatePostgres, PrivateRabbit
from tests.faults.tcp_proxy import TcpProxy
from tests.faults.test_network_faults import JOBS, assert_mid_batch, running_batch, through, worker_1_recovered
from tests.faults.verdict import settled_and_sound
from tests.threaded_servers import SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

LATENCY_MS = 500
LATENCY_SECONDS = 20
SETTLE_SECONDS = 60  # after the latency ends: the batch is done within this, or the test fails


@pytest.fixture
def proxies(private_rabbitmq: PrivateRabbit, private_postgres: PrivatePostgres) -> Iterator[dict[str, TcpProxy]]:
    with TcpProxy("127.0.0.1", private_rabbitmq.port) as broker, TcpProxy("127.0.0.1", private_postgres.port) as db:
        yield {"BATCHQ_AMQP_URL": broker, "BATCHQ_DATABASE_URL": db}


@pytest.mark.timeout(180)
@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="4")
def test_a_workers_connections_slowed_by_500_ms_mid_batch(
    private_rabbitmq: PrivateRabbit,
    proxies: dict[str, TcpProxy],
    amqp_url: str,
    e2e_env: dict[str, str],
    migrated: Cli,
    processes: Processes,
    cli: Cli,
    smtp_server: SmtpServer,
) -> None:
    proxied_env = {name: through(e2e_env[name], proxy) for name, proxy in proxies.items()}
    proxied, doc = running_batch(processes, private_rabbitmq, amqp_url, cli, proxied_env, 60)
    assert_mid_batch(processes)
    for proxy in proxies.values():
        proxy.latency(LATENCY_MS)
    slowed_at = processes.count_log("worker-1", "job_completed")
    time.sleep(LATENCY_SECONDS)
    slow = processes.count_log("worker-1", "job_completed") - slowed_at
    for proxy in proxies.values():
        proxy.passing()

    fault = f"worker-1's AMQP and PostgreSQL connections {LATENCY_MS} ms slower each way for {LATENCY_SECONDS} s"
    healed_at = time.monotonic()
    settled_and_sound(cli, smtp_server, str(doc["batch_id"]), JOBS, fault=fault, timeout=SETTLE_SECONDS)
    print(f"worker-1 completed {slow} jobs while slowed; settled {time.monotonic() - healed_at:.1f} s after")
    assert slow >= 1, "worker-1 completed nothing while slowed: it should be slow, not stopped"
    for marker in ("job_stuck", "job_orphaned"):
        assert marker not in processes.logs("dispatcher"), f"{marker}: latency broke no connection, nothing to fence"
    worker_1_recovered(processes, cli, proxied, 30)
