"""What every benchmark run needs around it: a fresh database and vhost, an SMTP sink,
subprocesses started and stopped by pid, and CPU accounting from /proc.

Nothing here touches a server object that the benchmark did not create itself: the
database and vhosts get a unique `bench_` name and are dropped afterwards.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
from aiosmtpd.controller import Controller
from psycopg import sql

ADMIN_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
RABBITMQ_API = os.environ.get("BENCH_RABBITMQ_API", "http://127.0.0.1:15672")
RABBITMQ_AUTH = ("guest", "guest")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(5)}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(ready: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(every)


# --- PostgreSQL and RabbitMQ ------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(keep: bool = False) -> Iterator[str]:
    """A new database `bench_<hex>` for the block; yields its libpq URL; dropped afterwards."""
    name = unique("bench_")
    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = ADMIN_DATABASE_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        if keep:
            print(f"  kept database {name}", file=sys.stderr)
        else:
            with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class RabbitApi:
    def __init__(self) -> None:
        self.client = httpx.Client(base_url=RABBITMQ_API, auth=RABBITMQ_AUTH, timeout=10)

    def queue(self, vhost: str, queue: str) -> dict[str, object] | None:
        response = self.client.get(f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}")
        return response.json() if response.status_code == 200 else None

    def consumers(self, vhost: str, queue: str) -> int:
        found = self.queue(vhost, queue)
        return int(found.get("consumers", 0) or 0) if found else 0  # type: ignore[call-overload]

    @contextlib.contextmanager
    def fresh_vhost(self, prefix: str = "bench-", keep: bool = False) -> Iterator[tuple[str, str]]:
        """A new vhost for the block; yields (name, AMQP URL); deleted afterwards."""
        vhost = unique(prefix)
        self.client.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
        self.client.put(
            f"/api/permissions/{quote(vhost, safe='')}/guest",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
        try:
            yield vhost, f"{AMQP_BASE}/{quote(vhost, safe='')}"
        finally:
            if keep:
                print(f"  kept vhost {vhost}", file=sys.stderr)
            else:
                self.client.delete(f"/api/vhosts/{quote(vhost, safe='')}")


# --- SMTP sink --------------------------------------------------------------------------


@dataclass
class Mail:
    received_at: float  # time.time()
    subject: str
    size: int


class SmtpSink:
    """aiosmtpd in this process; `wait_for(text)` returns the first mail whose subject has it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.mails: list[Mail] = []
        self.arrived = threading.Condition()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, data_size_limit=0)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        now = time.time()
        raw = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        message = email.message_from_bytes(data, policy=email.policy.default)
        with self.arrived:
            self.mails.append(Mail(now, str(message.get("Subject", "")), len(data)))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, text: str, timeout: float) -> Mail | None:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for mail in self.mails:
                    if text in mail.subject:
                        return mail
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.arrived.wait(min(left, 1.0))

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# --- processes --------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Processes:
    """Subprocesses started by the benchmark; stopped with SIGTERM (then SIGKILL) by pid."""

    log_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Proc:
        log = self.log_dir / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd)
        handle.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")

    def dump_stacks(self) -> None:
        """`py-spy dump` of every live process into <name>.stack.txt: where a stuck run stands."""
        for proc in self.procs:
            if proc.popen.poll() is not None:
                continue
            out = self.log_dir / f"{proc.name}.stack.txt"
            done = subprocess.run([str(BIN / "py-spy"), "dump", "--pid", str(proc.pid)],
                                  capture_output=True, text=True, timeout=60)
            out.write_text(done.stdout + done.stderr)
            print(f"  stacks of {proc.name}: {out}", file=sys.stderr)

    def stop_all(self, timeout: float = 20.0) -> dict[str, int | None]:
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[str, int | None] = {}
        for proc in self.procs:
            try:
                codes[proc.name] = proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                codes[proc.name] = proc.popen.wait()
                print(f"  ! {proc.name} ignored SIGTERM for {timeout:.0f} s; killed", file=sys.stderr)
        self.procs.clear()
        return codes


# --- CPU accounting ---------------------------------------------------------------------


def process_cpu_seconds(pid: int, reaped_children: bool = True) -> float:
    """user + system CPU of one process (and of its reaped children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is state (field 3); utime, stime are fields 14, 15; cutime, cstime 16, 17.
    return sum(int(v) for v in fields[11:15 if reaped_children else 13]) / CLOCK_TICKS


def tree_pids(root: int) -> list[int]:
    """root and all its live descendants (root first)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def child_name(parent: str, index: int, pid: int) -> str:
    """`relay` for the dispatcher's relay process, else `<parent>.child<i>`."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        cmdline = ""
    return "relay" if "relay" in cmdline else f"{parent}.child{index}"


def server_cpu_seconds() -> dict[str, float]:
    """CPU consumed so far by every postgres, RabbitMQ (beam.smp) and redis process."""
    totals = {"postgres": 0.0, "rabbitmq": 0.0, "redis": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        key = (
            "postgres" if comm.startswith("postgres")
            else "rabbitmq" if comm in ("beam.smp", "erl_child_setup", "epmd", "inet_gethost")
            else "redis" if comm.startswith("redis-server")
            else None
        )
        if key:
            totals[key] += process_cpu_seconds(int(entry.name))
    return totals


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory since it started (VmHWM), in MiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def peak_memory(pids: dict[str, int]) -> dict[str, float]:
    """Peak resident MiB of each named process and of each of its children (`<name>.children`, the largest)."""
    peaks = {}
    for name, pid in pids.items():
        peaks[name] = peak_rss_mib(pid)
        children = tree_pids(pid)[1:]
        if children:
            peaks[f"{name}.children"] = max(peak_rss_mib(p) for p in children)
    return peaks


class CpuMeter:
    """CPU seconds used between `start()` and `stop()` by our processes, the servers, the machine."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def _sample(self) -> dict[str, float]:
        sample = {}
        for name, pid in self.pids.items():
            tree = tree_pids(pid)
            sample[name] = process_cpu_seconds(pid)
            if len(tree) > 1 or f"{name}.children" in getattr(self, "before", {}):
                sample[f"{name}.children"] = sum(process_cpu_seconds(p) for p in tree[1:])
        sample.update(server_cpu_seconds())
        sample["machine_busy"], sample["machine_total"] = machine_cpu_seconds()
        sample["bench_driver"] = process_cpu_seconds(os.getpid(), reaped_children=False)
        return sample

    def start(self) -> None:
        self.before = self._sample()
        self.t0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        wall = time.monotonic() - self.t0
        used = {k: round(after[k] - self.before.get(k, 0.0), 2) for k in after}
        used["wall"] = round(wall, 2)
        used["machine_utilisation"] = round(used["machine_busy"] / max(used.pop("machine_total"), 1e-9), 3)
        return used
