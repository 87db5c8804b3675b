"""The embedded mode: the three services in one process on SQLite, an in-process bus, a mail folder.

`batchq dev` serves them until Ctrl-C or SIGTERM; `batchq demo` runs the seed use
cases through them. The services are the real ones, built by their own
bootstraps; only the adapters differ (DESIGN: a second adapter, not a second
implementation). All three share one store, one bus and one set of locks.

`dev` has no broker for `batchq submit` to reach, so it takes submissions and
admin commands as JSON files dropped into `<dir>/inbox/` and publishes them on
the in-process bus exactly as the CLI does over RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import orjson
import structlog

from services.adapters import ask
from services.adapters.lifecycle import serve
from services.adapters.locks import MemoryLocks
from services.adapters.logging import get_logger
from services.adapters.memory_bus import EMBEDDED_PRINCIPAL, MemoryBus
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.cli import demo
from services.dispatcher import bootstrap as dispatcher_bootstrap
from services.relay.relay import RelayInProcess
from services.reporter import bootstrap as reporter_bootstrap
from services.reporter.mailer import FolderMailer
from services.worker import bootstrap as worker_bootstrap

log = get_logger("batchq.embedded")

INBOX_POLL_SECONDS = 0.5
INBOX_SETTLE_SECONDS = 0.2  # a file younger than this may still be being written


def embedded_settings(settings: Settings) -> Settings:
    """One small process: short intervals so state changes show up at once."""
    return settings.model_copy(
        update={
            "worker_id": f"embedded-{os.getpid()}",
            "worker_concurrency": 8,
            "heartbeat_seconds": 0.5,
            "progress_interval_seconds": 0.25,
            "scan_seconds": 0.5,
            "stuck_after_seconds": max(10.0, min(settings.stuck_after_seconds, 60.0)),
            "retry_base_seconds": min(settings.retry_base_seconds, 0.5),
            "retry_cap_seconds": min(settings.retry_cap_seconds, 10.0),
            "relay_principal": EMBEDDED_PRINCIPAL,
        }
    )


class Embedded:
    """Dispatcher, worker and reporter on one store, one bus, one set of locks: one service."""

    def __init__(self, directory: Path, settings: Settings) -> None:
        self.directory = directory
        self.settings = embedded_settings(settings)
        self.store_path = directory / "store.sqlite"
        self.mail_folder = directory / "mail"
        self.store = EventStore.sqlite(self.store_path)
        self.store.ensure_first_operator(EMBEDDED_PRINCIPAL, datetime.now(UTC))  # one user, who runs it all
        self.bus = MemoryBus()
        self.locks = MemoryLocks()
        store, bus, locks = self.store, self.bus, self.locks
        self.dispatcher = dispatcher_bootstrap.build(
            self.settings, store=store, bus=bus, locks=locks, relay=RelayInProcess(store, bus)
        )
        self.reporter = reporter_bootstrap.build(
            self.settings, store=store, bus=bus, mailer=FolderMailer(self.mail_folder)
        )
        self.worker = worker_bootstrap.build(self.settings, store=store, bus=bus, locks=locks)

    async def start(self) -> None:
        # The dispatcher first: it runs the relay, which the other two listen to.
        await self.dispatcher.start()
        await self.reporter.start()
        await self.worker.start()

    async def stop(self) -> None:
        # The worker first, so running jobs finish and their outcomes are recorded.
        await self.worker.stop()
        await self.dispatcher.stop()
        await self.reporter.stop()
        self.store.close()


@contextlib.asynccontextmanager
async def running(directory: Path, settings: Settings) -> AsyncIterator[Embedded]:
    system = Embedded(directory, settings)
    await system.start()
    try:
        yield system
    finally:
        await system.stop()


# -- batchq dev ------------------------------------------------------------------


class DevMode:
    """`Embedded` plus the inbox folder through which `dev` takes submissions and commands."""

    def __init__(self, directory: Path, settings: Settings, out: TextIO) -> None:
        self.system = Embedded(directory, settings)
        self.inbox = directory / "inbox"
        self.out = out
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        (self.inbox / "done").mkdir(parents=True, exist_ok=True)
        await self.system.start()
        self.task = asyncio.create_task(self._watch_inbox())
        print(
            f"batchq dev: store {self.system.store_path}, mail {self.system.mail_folder}/; "
            f"submit by dropping submission or admin-command JSON files into {self.inbox}/ "
            "(replies go to inbox/done/); Ctrl-C stops",
            file=self.out,
            flush=True,
        )

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.system.stop()

    async def _watch_inbox(self) -> None:
        while True:
            for path in sorted(self.inbox.glob("*.json")):
                settled = time.time() - path.stat().st_mtime >= INBOX_SETTLE_SECONDS
                if settled and not path.name.startswith("."):
                    try:
                        await self._take(path)
                    except Exception:
                        log.exception("inbox_file_failed", path=str(path))
            await asyncio.sleep(INBOX_POLL_SECONDS)

    async def _take(self, path: Path) -> None:
        body = path.read_bytes()
        done = self.inbox / "done" / path.name
        path.replace(done)  # taken: a crash from here on never submits it twice
        command = _command_in(body)
        if command is not None:
            # The file's own body, schema_version included: refused as on the broker, never guessed at.
            code, reply = await ask.send_command_body(self.system.bus, command, body)
        else:
            code, reply = await ask.submit(self.system.bus, body)
        done.with_suffix(".reply.json").write_bytes(orjson.dumps(reply, option=orjson.OPT_INDENT_2))
        verdict = "ok" if code == 0 else "refused"
        detail = orjson.dumps(reply.get("result") or reply.get("error")).decode()
        print(f"inbox: {path.name} {verdict}: {detail}", file=self.out, flush=True)


def _command_in(body: bytes) -> str | None:
    """The name of the admin command a file holds; None for anything else, which goes in as a submission."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, dict) and isinstance(document.get("command"), str):
        return document["command"]
    return None


# -- batchq demo -----------------------------------------------------------------


class _Redirect:
    """A file for the services' logs that can be pointed back at stderr once the file closes."""

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()


def fresh_demo_directory(directory: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, n = directory / f"demo-{stamp}", 1
    while candidate.exists():
        n += 1
        candidate = directory / f"demo-{stamp}-{n}"
    candidate.mkdir(parents=True)
    return candidate


async def run_demo(directory: Path, settings: Settings, out: TextIO) -> int:
    log_path = directory / "services.log"
    previous = structlog.get_config()["logger_factory"]
    with log_path.open("a") as log_file:
        sink = _Redirect(log_file)
        # The services' logs would bury the demo: they go to a file. Loggers keep the
        # sink they first used, so the sink itself turns back to stderr afterwards.
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sink))  # type: ignore[arg-type]
        try:
            async with running(directory, settings) as system:
                code = await demo.run(system, out)
        finally:
            sink.target = sys.stderr
            structlog.configure(logger_factory=previous)
    out.write(f"Everything is in {directory}/ (store.sqlite, mail/, services.log).\n")
    out.flush()
    return code


def main(command: str, directory: Path, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if command == "dev":
        directory.mkdir(parents=True, exist_ok=True)
        asyncio.run(serve(DevMode(directory, settings, out)))
        return 0
    if command == "demo":
        return asyncio.run(run_demo(fresh_demo_directory(directory), settings, out))
    raise ValueError(f"unknown embedded command {command!r}")
