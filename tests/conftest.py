"""Fixtures shared by every test: real servers, found once per session, isolated per test.

- `postgres_server`, `rabbitmq_server` (session): discovered on first use only, so unit tests
  never touch a server; see `tests/servers.py` for the order in which they are looked for.
- `database_url`, `amqp_url`: a fresh database / vhost per test, dropped afterwards.
- `smtp_server`, `http_server`: an SMTP catcher and an HTTP server of the test's own.
- `service_env`: the environment for spawning `batchq` processes against all of them.

Tests under tests/integration are marked `integration`, under tests/e2e `e2e`
(`pytest -m "not integration and not e2e"` runs the unit tests alone).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.servers import (
    PostgresServer,
    RabbitServer,
    ServerUnavailableError,
    discover_postgres,
    discover_rabbitmq,
)
from tests.threaded_servers import HttpServer, SmtpServer

T = TypeVar("T")
TESTS = Path(__file__).parent
MARKED_FOLDERS = {"integration": "integration", "e2e": "e2e"}
SERVER_FIXTURES = frozenset(
    {"postgres_server", "rabbitmq_server", "database_url", "amqp_url", "service_env"} | {"smtp_server", "http_server"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        with contextlib.suppress(ValueError):
            folder = item.path.relative_to(TESTS).parts[0]
            if folder in MARKED_FOLDERS:
                item.add_marker(MARKED_FOLDERS[folder])


def pytest_runtest_setup(item: pytest.Item) -> None:
    uses = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    marked = item.get_closest_marker("integration") or item.get_closest_marker("e2e")
    if uses and not marked:
        pytest.fail(
            f"{item.nodeid} uses {sorted(uses)}: only tests under tests/integration and tests/e2e talk to servers",
            pytrace=False,
        )


def _discovered(discover: Callable[[contextlib.ExitStack], T], stack: contextlib.ExitStack) -> T:
    """The server `discover` finds; else the whole run stops at once with its one-line reason
    (every later test would fail the same way, so there is nothing more to learn)."""
    try:
        return discover(stack)
    except ServerUnavailableError as error:
        reason = str(error)
    pytest.exit(reason, returncode=pytest.ExitCode.INTERRUPTED)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with contextlib.ExitStack() as containers:
        yield _discovered(discover_postgres, containers)


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[RabbitServer]:
    with contextlib.ExitStack() as containers:
        yield _discovered(discover_rabbitmq, containers)


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """libpq URL of a fresh database `batchq_test_<hex>`, dropped after the test."""
    with postgres_server.isolated_database() as url:
        yield url


@pytest.fixture
def amqp_url(rabbitmq_server: RabbitServer) -> Iterator[str]:
    """AMQP URL of a fresh vhost `batchq-test-<hex>`, deleted after the test."""
    with rabbitmq_server.isolated_vhost() as url:
        yield url


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def service_env(database_url: str, amqp_url: str, smtp_server: SmtpServer) -> dict[str, str]:
    """Environment for a `batchq` process using this test's database, vhost and SMTP server."""
    return {
        **os.environ,
        "BATCHQ_DATABASE_URL": database_url,
        "BATCHQ_AMQP_URL": amqp_url,
        "BATCHQ_SMTP_URL": smtp_server.url,
        "BATCHQ_MAIL_FROM": "batchq-test@localhost",
        "PYTHONUNBUFFERED": "1",
    }
