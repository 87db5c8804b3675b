"""The network between one worker and PostgreSQL reset, then partitioned, mid-batch: nothing lost, nothing twice.

Two workers share the batch. `worker-1` reaches the database through a TCP proxy the
test controls (`tests/faults/tcp_proxy.py`); `worker-2`, the dispatcher and the
reporter connect to PostgreSQL directly, and every service reaches RabbitMQ directly.
Mid-batch the proxy first aborts every database connection of `worker-1` at once
(reset: its store's pool and its job locks' sessions), and once `worker-1` completes
jobs again, it partitions it from PostgreSQL for 30 s (blackhole: the sockets stay open
and silent, new connections are accepted but not carried on).

A reset ends the sessions holding `worker-1`'s job locks, so its running attempts are
fenced and run again once; in the partition `worker-1` can neither record nor lock, so
`worker-2` must carry the batch (jobs stuck after 5 s here). Job messages `worker-1` held
unacknowledged meanwhile (waiting for its slots) come back only when it does; once the
queue has emptied the dispatcher sends such jobs again (`BATCHQ_REDISPATCH_SECONDS`, 10 s
here), so `worker-2` runs them. The history checker then
reads the whole log: every job completed exactly once, one report email. Afterwards
`worker-1` is the same process and completes jobs of a second batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.cli import Cli
from tests.e2e.processes import Processes
from tests.faults.private_servers import PrivatePostgres, PrivateRabbit
from tests.faults.tcp_proxy import TcpProxy
from tests.faults.test_network_faults import JOBS, reset_mid_batch, through, worker_1_recovered
from tests.faults.verdict import settled_and_sound
from tests.threaded_servers import SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


BLACKHOLE_SECONDS = 30


@pytest.fixture
def database_proxy(private_postgres: PrivatePostgres) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", private_postgres.port) as proxy:
        yield proxy


@pytest.mark.timeout(120)
@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="4", BATCHQ_STUCK_AFTER_SECONDS="5", BATCHQ_REDISPATCH_SECONDS="10")
def test_a_workers_database_connection_reset_then_blackholed_mid_batch(
    private_rabbitmq: PrivateRabbit,
    database_proxy: TcpProxy,
    amqp_url: str,
    e2e_env: dict[str, str],
    migrated: Cli,
    processes: Processes,
    cli: Cli,
    smtp_server: SmtpServer,
) -> None:
    proxied_env = {"BATCHQ_DATABASE_URL": through(e2e_env["BATCHQ_DATABASE_URL"], database_proxy)}
    proxied, doc = reset_mid_batch(processes, private_rabbitmq, amqp_url, cli, database_proxy, proxied_env, 30)
    by_worker_2 = processes.count_log("worker-2", "job_completed")
    database_proxy.blackhole(BLACKHOLE_SECONDS)
    time.sleep(2)  # what worker-1 had appended before the partition is logged by now
    by_worker_1 = processes.count_log("worker-1", "job_completed")
    time.sleep(BLACKHOLE_SECONDS - 3)
    assert processes.count_log("worker-1", "job_completed") == by_worker_1, "worker-1 recorded jobs while cut off"
    assert processes.count_log("worker-2", "job_completed") > by_worker_2, "worker-2 took no work in the partition"
    time.sleep(2)

    fault = f"worker-1's PostgreSQL connections reset, then blackholed {BLACKHOLE_SECONDS} s"
    settled_and_sound(cli, smtp_server, str(doc["batch_id"]), JOBS, fault=fault, timeout=40)
    worker_1_recovered(processes, cli, proxied, 20)
