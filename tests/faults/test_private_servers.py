"""The fault tests' private servers: a stack runs on them, and they are not the shared ones."""

from __future__ import annotations

import pytest

from tests.e2e.cli import Cli, job, submission
from tests.e2e.processes import Processes
from tests.faults.private_servers import PrivatePostgres, PrivateRabbit
from tests.faults.verdict import settled_and_sound
from tests.threaded_servers import SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def test_a_batch_runs_on_servers_of_the_tests_own(
    private_rabbitmq: PrivateRabbit,
    private_postgres: PrivatePostgres,
    amqp_url: str,
    database_url: str,
    system: Processes,
    cli: Cli,
    smtp_server: SmtpServer,
) -> None:
    assert f":{private_rabbitmq.port}/" in amqp_url and private_rabbitmq.port != 5672
    assert f":{private_postgres.port}/" in database_url and private_postgres.port != 5432
    doc = submission([job() for _ in range(20)])
    cli.submit(doc)
    settled_and_sound(cli, smtp_server, doc["batch_id"], 20, fault="none (baseline)", timeout=60)
    vhost = amqp_url.rsplit("/", 1)[1]
    consumers = private_rabbitmq.consumers(vhost)
    assert consumers["batchq.jobs.default"] >= 1, consumers
