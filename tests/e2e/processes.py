"""Real `batchq run <service>` processes for the end-to-end tests: start, signal, restart, read logs.

Each process is started as `python -m services.cli.main run <service>` from the repository root
with the test's environment; its stderr (the structured JSON log) goes to `<name>.log` in the
test's tmp_path, where a restart appends to the same file after a marker line. A process's
name is its service, optionally with a suffix (`worker-2` runs the worker service), and is also
its `BATCHQ_WORKER_ID`, so a `JobStarted` event's `worker_id` names the process that ran it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
STARTED_EVENTS = {
    "api": "api_started",
    "projector": "projector_started",
    "dispatcher": "dispatcher_started",
    "worker": "worker_started",
    "reporter": "reporter_started",
}
STOP_GRACE_SECONDS = 10.0


@dataclass
class Running:
    name: str
    service: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes]
    log_file: IO[bytes]
    starts: int = 1
    log_offset: int = 0  # where the current incarnation's log begins
    stopped_by_signal: bool = field(default=False)


class Processes:
    """The batchq processes of one test, by name."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.running: dict[str, Running] = {}

    # -- lifecycle -------------------------------------------------------------------

    def start(
        self, name: str, *, env: Mapping[str, str] | None = None, wait: bool = True, timeout: float = 30.0
    ) -> Running:
        """Start `name` (service = the part before the first '-'); wait for its `*_started` log line."""
        if name in self.running and self.running[name].process.poll() is None:
            raise RuntimeError(f"{name} is already running (pid {self.running[name].process.pid})")
        service = name.split("-", 1)[0]
        if service not in STARTED_EVENTS:
            raise ValueError(f"unknown service {service!r} in process name {name!r}")
        previous = self.running.get(name)
        full_env = {**(previous.env if previous else self.env), **(env or {})}
        full_env.setdefault("BATCHQ_WORKER_ID", name)
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("ab")
        marker = f"--- start {previous.starts + 1 if previous else 1} of {name} ---\n"
        log_file.write(marker.encode())
        log_file.flush()
        offset = log_path.stat().st_size
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "run", service],
            cwd=REPO,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
        running = Running(name, service, full_env, log_path, process, log_file, log_offset=offset)
        if previous is not None:
            running.starts = previous.starts + 1
        self.running[name] = running
        if wait:
            self.wait_for_log(name, STARTED_EVENTS[service], timeout=timeout)
        return running

    def start_many(self, *names: str, timeout: float = 30.0) -> None:
        """Start several at once (once PostgreSQL has room for them), then wait until each is ready."""
        wait_for_connection_headroom(self.env["BATCHQ_DATABASE_URL"], len(names))
        for name in names:
            self.start(name, wait=False)
        for name in names:
            self.wait_for_log(name, STARTED_EVENTS[name.split("-", 1)[0]], timeout=timeout)

    def kill(self, name: str, signum: int = signal.SIGKILL, *, wait: bool = True) -> None:
        """Send `signum`; for SIGKILL and SIGTERM wait (up to 15 s) until the process is gone."""
        running = self.running[name]
        running.process.send_signal(signum)
        if wait and signum in (signal.SIGKILL, signal.SIGTERM):
            running.process.wait(timeout=15)

    def restart(self, name: str, *, signum: int = signal.SIGKILL, wait: bool = True) -> Running:
        if self.running[name].process.poll() is None:
            self.kill(name, signum)
        return self.start(name, wait=wait)

    def pid(self, name: str) -> int:
        return self.running[name].process.pid

    def alive(self, name: str) -> bool:
        return self.running[name].process.poll() is None

    def stop_all(self) -> None:
        """SIGTERM everything (SIGCONT first, for a stopped one); SIGKILL what is left after 10 s."""
        live = [r for r in self.running.values() if r.process.poll() is None]
        for running in live:
            for signum in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.kill(running.process.pid, signum)
                except ProcessLookupError:
                    break
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for running in live:
            try:
                running.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait(timeout=10)
        for running in self.running.values():
            running.log_file.close()

    # -- logs ------------------------------------------------------------------------

    def logs(self, name: str) -> str:
        """Everything `name` has written so far, over all its restarts."""
        return self.running[name].log_path.read_text(errors="replace")

    def log_events(self, name: str, *, current_only: bool = False) -> list[dict[str, Any]]:
        """The JSON log lines of `name` (of its current incarnation only, if asked)."""
        running = self.running[name]
        with running.log_path.open("rb") as handle:
            if current_only:
                handle.seek(running.log_offset)
            raw = handle.read().decode(errors="replace")
        events = []
        for line in raw.splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events

    def count_log(self, name: str, event: str, *, current_only: bool = False) -> int:
        return sum(1 for e in self.log_events(name, current_only=current_only) if e.get("event") == event)

    def wait_for_log(self, name: str, event: str, *, count: int = 1, timeout: float = 30.0) -> None:
        """Until the current incarnation of `name` has logged `event` `count` times."""
        deadline = time.monotonic() + timeout
        while self.count_log(name, event, current_only=True) < count:
            running = self.running[name]
            if running.process.poll() is not None:
                raise AssertionError(
                    f"{name} exited with {running.process.returncode} before logging {event!r}:\n" + self.tail(name)
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not log {event!r} within {timeout} s:\n" + self.tail(name))
            time.sleep(0.05)

    def tail(self, name: str, lines: int = 60, width: int = 1500) -> str:
        """The last `lines` lines of `name`'s log, each cut to `width` characters (tracebacks are long)."""
        return "\n".join(line[:width] for line in self.logs(name).splitlines()[-lines:])

    def tails(self, lines: int = 60) -> str:
        """The last lines of every process's log, for a failed test's report."""
        parts = []
        for name, running in self.running.items():
            state = "running" if running.process.poll() is None else f"exit {running.process.returncode}"
            parts.append(f"===== {name} (pid {running.process.pid}, {state}) =====\n{self.tail(name, lines)}")
        return "\n".join(parts)

    def errors(self) -> list[dict[str, Any]]:
        """Log lines at level error or worse, from every process (a crash shows here)."""
        return [
            {"process": name, **event}
            for name in self.running
            for event in self.log_events(name)
            if event.get("level") in ("error", "critical", "exception")
        ]


# Each batchq process keeps a small pool of PostgreSQL connections (more on demand) and lock
# connections; a `batchq status`/`events` call opens a few while it runs. A test needs room for them.
CONNECTIONS_PER_SERVICE = 8
CONNECTIONS_PER_CLI_CALL = 4


def free_connections(database_url: str) -> int:
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        ).fetchone()
    return int(row[0]) if row else 0


def wait_for_connection_headroom(database_url: str, services: int, timeout: float = 60.0) -> None:
    """Until PostgreSQL can take `services` batchq processes and a CLI call; a clear failure otherwise.

    The server may be shared (other test runs, benchmarks): rather than have a process die
    half-way with "too many clients", wait a while for room, then say plainly what is missing.
    """
    needed = services * CONNECTIONS_PER_SERVICE + CONNECTIONS_PER_CLI_CALL
    deadline = time.monotonic() + timeout
    while (free := free_connections(database_url)) < needed:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"PostgreSQL has {free} free connections; {services} batchq processes and a CLI call need"
                f" about {needed}. Free some, raise max_connections, or point"
                f" BATCHQ_TEST_DATABASE_URL at a server of the tests' own."
            )
        time.sleep(1.0)
