"""Fixtures of the end-to-end tests: the real batchq processes on this test's servers.

- `e2e_env`: `service_env` plus info logs and short timings (scan and heartbeat every 0.5 s,
  retry backoff base 0.2 s); a test adds or overrides variables with
  `@pytest.mark.batchq_env(NAME="value")`.
- `cli`: the `batchq` command with that environment (`tests/e2e/cli.py`).
- `processes`: starts and signals `batchq run <service>` processes (`tests/e2e/processes.py`);
  all are stopped at teardown (SIGTERM, SIGKILL after 10 s), and a failed test's report carries
  the tail of every process's log.
- `migrated`: `batchq migrate` has run; `system`: a dispatcher, a worker and a reporter run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import Cli
from tests.e2e.principals import Principals
from tests.e2e.processes import Processes
from tests.servers import RabbitServer

FAST_TIMINGS = {
    "BATCHQ_LOG_LEVEL": "info",
    "BATCHQ_SCAN_SECONDS": "0.5",
    "BATCHQ_HEARTBEAT_SECONDS": "0.5",
    "BATCHQ_RETRY_BASE_SECONDS": "0.2",
    "BATCHQ_PROGRESS_INTERVAL_SECONDS": "0.5",
    # The tests serve manifests from 127.0.0.1, which batchq refuses by default (no SSRF).
    "BATCHQ_MANIFEST_ALLOWED_NETWORKS": "127.0.0.0/8",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "batchq_env(**variables): extra environment for the batchq processes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    processes: Processes | None = getattr(item, "batchq_processes", None)
    if processes is not None and report.failed:
        report.sections.append(("batchq process logs (tails)", processes.tails()))


@pytest.fixture
def e2e_env(service_env: dict[str, str], request: pytest.FixtureRequest) -> dict[str, str]:
    env = {**service_env, **FAST_TIMINGS}
    for marker in request.node.iter_markers("batchq_env"):
        env.update({name: str(value) for name, value in marker.kwargs.items()})
    return env


@pytest.fixture
def cli(e2e_env: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(e2e_env, tmp_path)


@pytest.fixture
def processes(e2e_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    running = Processes(e2e_env, log_dir)
    request.node.batchq_processes = running
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def migrated(cli: Cli) -> Cli:
    result = cli.ok("migrate")
    assert "migrated" in result.stdout
    return cli


@pytest.fixture
def system(migrated: Cli, processes: Processes) -> Processes:
    """dispatcher, worker and reporter, each started and ready."""
    processes.start_many("dispatcher", "worker", "reporter")
    return processes


@pytest.fixture
def principals(rabbitmq_server: RabbitServer, amqp_url: str) -> Iterator[Principals]:
    """RabbitMQ users of this test's own in its vhost (`tests/e2e/principals.py`), deleted afterwards."""
    made = Principals(rabbitmq_server, amqp_url)
    try:
        yield made
    finally:
        made.remove_all()
