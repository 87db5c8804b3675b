"""Fixtures of the fault tests: the end-to-end stack, on servers of the test's own.

`private_rabbitmq` and `private_postgres` start a RabbitMQ node and a PostgreSQL
cluster for one test (`tests/faults/private_servers.py`) and stop them afterwards;
they replace the session's shared `rabbitmq_server` and `postgres_server` here, so
`amqp_url`, `database_url`, `service_env` and the end-to-end fixtures (`cli`,
`processes`, `migrated`, `system`, imported from `tests/e2e/conftest.py`) all point
at them. A test may then restart, kill or stall them without touching anyone else.
`@pytest.mark.rabbitmq_conf("consumer_timeout = 5000", advanced="...")` gives the node
settings the shared server must not have.

The fault tests are marked `faults` and `e2e` in their modules (`pytestmark`); the
history checker's own tests in this folder need no server and are not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (  # noqa: F401  (fixtures and hooks, re-exported for this folder)
    cli,
    e2e_env,
    migrated,
    processes,
    pytest_runtest_makereport,
    system,
)
from tests.e2e.conftest import pytest_configure as e2e_configure
from tests.faults.private_servers import PrivatePostgres, PrivateRabbit, ServerMissingError
from tests.servers import PostgresServer, RabbitServer


def pytest_configure(config: pytest.Config) -> None:
    e2e_configure(config)
    config.addinivalue_line("markers", "rabbitmq_conf(*lines, advanced=terms): the private node's extra configuration")


@pytest.fixture
def private_rabbitmq(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PrivateRabbit]:
    """The node; `@pytest.mark.rabbitmq_conf("consumer_timeout = 5000", ..., advanced="[...].")`
    adds lines to its rabbitmq.conf and writes its advanced.config."""
    base = tmp_path / "rabbitmq"
    base.mkdir()
    markers = list(request.node.iter_markers("rabbitmq_conf"))
    config = [line for marker in markers for line in marker.args]
    advanced = "".join(str(marker.kwargs.get("advanced", "")) for marker in markers)
    try:
        node = PrivateRabbit(base, config, advanced)
    except ServerMissingError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        cluster = PrivatePostgres()
    except ServerMissingError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def rabbitmq_server(private_rabbitmq: PrivateRabbit) -> RabbitServer:
    return private_rabbitmq.server()


@pytest.fixture
def postgres_server(private_postgres: PrivatePostgres) -> PostgresServer:
    return private_postgres.server()
