"""PostgreSQL and RabbitMQ for the integration tests: found once, shared, isolated per test.

Both are discovered once per session (an explicit URL, else the local server, else a
throw-away container when a Docker engine answers) and each test gets its own database or
vhost on them, so tests never see each other's events or queues. The SMTP and HTTP servers,
cheap enough to start per test, are in `tests/threaded_servers.py`.

RabbitMQ is administered (vhosts, queue counts, definitions, users) through its management API,
else, for a local broker without the plugin, through `rabbitmqctl` (`tests/rabbitmq_admin.py`).
Discovery raises `ServerUnavailableError` with one line that says what was tried and how to
fix it; `tests/conftest.py` then stops the run at once with that line.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tests.rabbitmq_admin import ManagementApi, Rabbitmqctl, VhostAdmin

DATABASE_URL_VARIABLE = "BATCHQ_TEST_DATABASE_URL"
AMQP_URL_VARIABLE = "BATCHQ_TEST_AMQP_URL"
RABBITMQ_API_VARIABLE = "BATCHQ_TEST_RABBITMQ_API"
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
LOCAL_RABBITMQ_API = "http://guest:guest@127.0.0.1:15672"
POSTGRES_IMAGE = "postgres:16"
RABBITMQ_IMAGE = "rabbitmq:3.13-management"
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_RABBITMQ = "rabbitmq-server -detached && rabbitmq-plugins enable rabbitmq_management"


class ServerUnavailableError(Exception):
    """No server of the kind asked for could be found; the message says how to provide one."""


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def with_path(url: str, name: str) -> str:
    """`url` pointing at database or vhost `name` instead (the name is URL-quoted)."""
    return urlunsplit(urlsplit(url)._replace(path="/" + quote(name, safe="")))


def unique_name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(6)}"


def tcp_problem(host: str, port: int) -> str | None:
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as error:
        return f"{host}:{port}: {error.strerror or error}"
    return None


def docker_problem() -> str | None:
    """Why no Docker engine can run containers for us, or None when one answers."""
    try:
        import docker  # type: ignore[import-untyped]  # testcontainers' own client

        docker.from_env(timeout=5).ping()
    except Exception as error:  # any failure means the same: no engine to use
        return f"no Docker engine answers ({type(error).__name__})"
    return None


# --- PostgreSQL -------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL server on which the tests may create and drop databases."""

    admin_url: str
    origin: str

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)

    def create_database(self) -> str:
        name = unique_name("batchq_test_")
        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        drop = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
        with self._connect() as conn:
            if conn.info.server_version >= 130000:
                conn.execute(drop + sql.SQL(" WITH (FORCE)"))
                return
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            conn.execute(drop)

    def database_exists(self, name: str) -> bool:
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        return row is not None

    @contextlib.contextmanager
    def isolated_database(self) -> Iterator[str]:
        """A fresh, empty database for the duration of the block; yields its libpq URL."""
        name = self.create_database()
        try:
            yield with_path(self.admin_url, name)
        finally:
            self.drop_database(name)


def postgres_problem(url: str) -> str | None:
    """Why `url` cannot serve the tests, or None when it answers and may CREATE DATABASE."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user").fetchone()
    except psycopg.Error as error:
        return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    return None if row and row[0] else "its user may not CREATE DATABASE"


def discover_postgres(stack: contextlib.ExitStack) -> PostgresServer:
    configured = os.environ.get(DATABASE_URL_VARIABLE)
    if configured:
        problem = postgres_problem(configured)
        if problem:
            raise ServerUnavailableError(
                f"{DATABASE_URL_VARIABLE}={redact(configured)} cannot serve the tests: {problem}"
            )
        return PostgresServer(configured, origin=DATABASE_URL_VARIABLE)
    local_problem = postgres_problem(LOCAL_DATABASE_URL)
    if local_problem is None:
        return PostgresServer(LOCAL_DATABASE_URL, origin="local server")
    docker = docker_problem()
    if docker is None:
        return PostgresServer(_start_postgres_container(stack), origin="testcontainers")
    raise ServerUnavailableError(
        f"no PostgreSQL for the integration tests: set {DATABASE_URL_VARIABLE} to the libpq URL"
        f" of a server where the tests may CREATE DATABASE, or start the local one"
        f" ({START_POSTGRES}). Tried {LOCAL_DATABASE_URL}: {local_problem};"
        f" testcontainers: {docker}"
    )


def _start_postgres_container(stack: contextlib.ExitStack) -> str:
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers before 4.14
        from testcontainers.postgres import PostgresContainer
    container = stack.enter_context(PostgresContainer(POSTGRES_IMAGE, driver=None))
    return str(container.get_connection_url())


# --- RabbitMQ ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RabbitServer:
    """A RabbitMQ broker on which the tests may create and delete vhosts."""

    amqp_url: str
    admin: VhostAdmin
    origin: str

    @property
    def user(self) -> str:
        return unquote(urlsplit(self.amqp_url).username or "guest")

    def vhost_exists(self, vhost: str) -> bool:
        return self.admin.vhost_exists(vhost)

    @contextlib.contextmanager
    def isolated_vhost(self) -> Iterator[str]:
        """A fresh vhost for the duration of the block; yields its AMQP URL."""
        vhost = unique_name("batchq-test-")
        self.admin.add_vhost(vhost, self.user)
        try:
            yield with_path(self.amqp_url, vhost)
        finally:
            self.admin.delete_vhost(vhost)


def vhost_admin(api_url: str, amqp_url: str) -> VhostAdmin:
    """The management API where it answers, else the local `rabbitmqctl`; else one line saying what to enable."""
    api = ManagementApi(api_url)
    api_problem = api.problem()
    if api_problem is None:
        return api
    binary = shutil.which("rabbitmqctl")
    local = urlsplit(amqp_url).hostname in ("127.0.0.1", "localhost", "::1")
    if not binary:
        ctl_problem = "no rabbitmqctl on PATH"
    elif not local:
        ctl_problem = "rabbitmqctl manages only a local broker"
    else:
        ctl = Rabbitmqctl(binary)
        ctl_problem = ctl.problem()
        if ctl_problem is None:
            return ctl
    raise ServerUnavailableError(
        f"RabbitMQ at {redact(amqp_url)} answers but the tests cannot administer it: {api_problem};"
        f" {ctl_problem}. Enable the management plugin (rabbitmq-plugins enable rabbitmq_management)"
        f" or set {RABBITMQ_API_VARIABLE} to its management API"
    )


def discover_rabbitmq(stack: contextlib.ExitStack) -> RabbitServer:
    configured = os.environ.get(AMQP_URL_VARIABLE)
    amqp_url = configured or LOCAL_AMQP_URL
    api_url = os.environ.get(RABBITMQ_API_VARIABLE, LOCAL_RABBITMQ_API)
    parts = urlsplit(amqp_url)
    problem = tcp_problem(parts.hostname or "127.0.0.1", parts.port or 5672)
    if problem is None:
        origin = AMQP_URL_VARIABLE if configured else "local server"
        return RabbitServer(amqp_url, vhost_admin(api_url, amqp_url), origin)
    if configured:
        raise ServerUnavailableError(f"{AMQP_URL_VARIABLE}={redact(configured)} does not answer: {problem}")
    docker = docker_problem()
    if docker is None:
        amqp_url, api_url = _start_rabbitmq_container(stack)
        return RabbitServer(amqp_url, ManagementApi(api_url), origin="testcontainers")
    raise ServerUnavailableError(
        f"no RabbitMQ for the integration tests: set {AMQP_URL_VARIABLE} (and"
        f" {RABBITMQ_API_VARIABLE}, its management API) to a broker where the tests may create"
        f" vhosts, or start the local one ({START_RABBITMQ}). Tried {LOCAL_AMQP_URL}: {problem};"
        f" testcontainers: {docker}"
    )


def _start_rabbitmq_container(stack: contextlib.ExitStack) -> tuple[str, str]:
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(RABBITMQ_IMAGE).with_exposed_ports(5672, 15672)
    stack.enter_context(container)
    host = container.get_container_host_ip()
    amqp_url = f"amqp://guest:guest@{host}:{container.get_exposed_port(5672)}/%2F"
    api_url = f"http://guest:guest@{host}:{container.get_exposed_port(15672)}"
    wait_until(lambda: ManagementApi(api_url).problem() is None, 90, "RabbitMQ container")
    return amqp_url, api_url


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise ServerUnavailableError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.5)
