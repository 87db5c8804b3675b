"""A RabbitMQ node and a PostgreSQL cluster of one test's own, which the test may stop, kill or stall.

The shared servers (5672, 5432) carry every other test of the machine, and other
people's test runs too: a fault test that restarted them would fail tests it knows
nothing about. So a disruptive fault test gets its servers here, on free ports, in
a directory of its own, and `tests/faults/conftest.py` puts them behind the usual
`rabbitmq_server` / `postgres_server` fixtures, so the rest (a vhost and a database
per test, the batchq processes) is what every other end-to-end test uses.

Every step is bounded in time; a missing server binary is one line saying which,
and where it was looked for. The node runs as the current user with HOME set to its
own directory (so its Erlang cookie is its own); PostgreSQL refuses to run as root,
so as root it runs as the `postgres` user in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tests.rabbitmq_admin import Rabbitmqctl
from tests.servers import PostgresServer, RabbitServer

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # Debian's real scripts; /usr/sbin's wrappers su to `rabbitmq`
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
START_SECONDS = 60.0
CTL_SECONDS = 60.0


class ServerMissingError(Exception):
    """A server binary the fault tests need is not installed; the message names it."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _binary(folder: Path, name: str, hint: str) -> str:
    found = folder / name if (folder / name).exists() else shutil.which(name)
    if not found:
        raise ServerMissingError(f"{name} not found in {folder} nor on PATH: {hint}")
    return str(found)


class PrivateRabbit:
    """One RabbitMQ node (`batchq-fault-<hex>@localhost`), management plugin off.

    `config` lines are appended to its `rabbitmq.conf` (e.g. `consumer_timeout = 5000`),
    and `advanced` (Erlang terms) becomes its `advanced.config`, for settings the
    new-style file has no key for (`channel_tick_interval`): so a test can give the node
    a setting the shared server must not have.
    """

    def __init__(self, base: Path, config: Sequence[str] = (), advanced: str = "") -> None:
        hint = "install rabbitmq-server to run the fault tests"
        self.server_bin = _binary(RABBITMQ_BIN, "rabbitmq-server", hint)
        self.ctl_bin = _binary(RABBITMQ_BIN, "rabbitmqctl", hint)
        self.base = base
        self.node = f"batchq-fault-{secrets.token_hex(4)}@localhost"
        self.port, self.dist_port = free_port(), free_port()
        self.pid_file = base / "beam.pid"
        self.process: subprocess.Popen[bytes] | None = None
        lines = [f"listeners.tcp.default = 127.0.0.1:{self.port}", "loopback_users = none", *config]
        (base / "rabbitmq.conf").write_text("".join(f"{line}\n" for line in lines))
        (base / "enabled_plugins").write_text("[].\n")
        if advanced:
            (base / "advanced.config").write_text(advanced)
        (base / "rabbitmq-env.conf").write_text("")  # not the system's, which names the shared node

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.base),  # the Erlang cookie lives here, for the node and rabbitmqctl alike
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def server(self) -> RabbitServer:
        return RabbitServer(self.amqp_url, NodeCtl(self), origin=f"private node {self.node}")

    def ctl(self, *args: str, timeout: float = CTL_SECONDS) -> str:
        done = subprocess.run(
            [self.ctl_bin, "-q", "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} → {done.returncode}: {done.stderr.strip()[-800:]}")
        return done.stdout

    # -- the node's life ---------------------------------------------------------------

    def start(self, timeout: float = START_SECONDS) -> None:
        """Start the node in the foreground (a child of ours), and wait until it takes AMQP connections."""
        self.pid_file.unlink(missing_ok=True)
        log = (self.base / "server.out").open("ab")
        self.process = subprocess.Popen(
            [self.server_bin], env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not answers(self.port):
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited at start-up:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"RabbitMQ node {self.node} not listening after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)
        self.ctl("await_startup", "--timeout", str(int(max(1, deadline - time.monotonic()))))

    def beam_pid(self) -> int:
        """The Erlang VM's process (the started script is a shell that waits for it)."""
        deadline = time.monotonic() + 10
        while not (text := self.pid_file.read_text().strip() if self.pid_file.exists() else ""):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no pid file {self.pid_file}")
            time.sleep(0.1)
        return int(text)

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.wait_ready()

    def kill(self) -> None:
        """SIGKILL the VM (a crash, an OOM kill): no goodbye to any client."""
        os.kill(self.beam_pid(), signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stall(self) -> None:
        os.kill(self.beam_pid(), signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.beam_pid(), signal.SIGCONT)

    def stop(self) -> None:
        """Stop the node for good: `rabbitmqctl stop`, else SIGKILL; bounded either way."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(Exception):
            self.resume()  # a stalled node cannot stop
        try:
            self.ctl("stop", timeout=30)
            self.process.wait(timeout=30)
        except (RuntimeError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError, RuntimeError):
                os.kill(self.beam_pid(), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    # -- looking at it -----------------------------------------------------------------

    def consumers(self, vhost: str) -> Counter[str]:
        """Consumers per queue of `vhost`, from the channels' own consumer lists.

        Not `list_queues name consumers`: on 3.10 that shows 0 for a quorum queue whose
        consumers are registered and receiving (its count is a lagging metric).
        """
        rows = self.ctl("list_consumers", "-p", vhost, "--no-table-headers", "queue_name")
        return Counter(line.strip() for line in rows.splitlines() if line.strip())

    def log_text(self) -> str:
        """The node's log files and its console output, whole."""
        files = [self.base / "server.out", *sorted((self.base / "log").glob("*.log"))]
        return "\n".join(f.read_text(errors="replace") for f in files if f.exists())

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class NodeCtl(Rabbitmqctl):
    """`tests/rabbitmq_admin.py`'s rabbitmqctl administration, pointed at a private node."""

    def __init__(self, rabbit: PrivateRabbit) -> None:
        super().__init__(rabbit.ctl_bin)
        self.rabbit = rabbit
        self.description = f"rabbitmqctl -n {rabbit.node}"

    def _run(self, *args: str, stdin: str | None = None) -> str:
        return self.rabbit.ctl(*args)


class PrivatePostgres:
    """One PostgreSQL cluster in a temporary directory: trust authentication, superuser `postgres`."""

    def __init__(self) -> None:
        hint = "install postgresql-15 to run the fault tests"
        self.initdb = _binary(POSTGRES_BIN, "initdb", hint)
        self.pg_ctl_bin = _binary(POSTGRES_BIN, "pg_ctl", hint)
        self.as_root = os.geteuid() == 0
        self.base = Path(tempfile.mkdtemp(prefix="batchq-fault-pg-"))  # not under pytest's 0700 tmp
        if self.as_root:
            shutil.chown(self.base, "postgres")
        self.data = self.base / "data"
        self.port = free_port()

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def server(self) -> PostgresServer:
        return PostgresServer(self.admin_url, origin=f"private cluster on port {self.port}")

    def _run(self, *command: str, timeout: float = CTL_SECONDS) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=timeout, cwd=self.base)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} → {done.returncode}: {done.stderr.strip()[-800:]}")

    def pg_ctl(self, *args: str, timeout: float = CTL_SECONDS) -> None:
        self._run(self.pg_ctl_bin, "-D", str(self.data), "-w", "-t", str(int(timeout)), *args, timeout=timeout + 5)

    def start(self) -> None:
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=150"
        self.pg_ctl("-o", options, "-l", str(self.base / "server.log"), "start")

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart`: every session is cut, the options stay (postmaster.opts)."""
        self.pg_ctl("-m", mode, "-l", str(self.base / "server.log"), "restart")  # -l: no pipe of ours held open

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.pg_ctl("-m", "immediate", "stop", timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        path = self.base / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
