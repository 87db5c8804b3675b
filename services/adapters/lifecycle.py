"""Running a service until SIGTERM or SIGINT, then stopping it gracefully; and a child process kept running."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Protocol

from services.adapters.logging import configure, get_logger
from services.adapters.settings import Settings
from services.adapters.setup_errors import SetupError

log = get_logger("batchq.lifecycle")


class Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def serve(service: Service, stopping: asyncio.Event | None = None) -> None:
    """Start, run until a stop signal, stop. A signal during start-up counts too.

    A standby dispatcher's `start` waits for the leadership lock, possibly for
    ever; a SIGTERM meanwhile must end it, not wait for a lock it no longer wants.
    A start that fails raises, without `stop` (nothing was started).
    """
    stopping = stopping or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    starting = asyncio.create_task(service.start())
    signalled = asyncio.create_task(stopping.wait())
    await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
    else:
        starting.result()  # a failed start raises here
    try:
        await signalled
    finally:
        await service.stop()


# Young objects collected after 50,000 allocations instead of Python's 700. A service builds
# large structures in one go (a 100,000-job submission: 100,000 models and drafts), and with
# the default the collector ran so often over them that it was more than half the time:
# decoding such a submission took 0.6 s instead of 0.23, making its drafts 0.31 s instead
# of 0.12. batchq's own objects rarely form cycles; those that do are still collected.
GC_THRESHOLD = (50_000, 20, 10)


def tune_garbage_collector() -> None:
    """What every batchq service process does first (`run_service`, the relay's `main`)."""
    gc.set_threshold(*GC_THRESHOLD)


@contextlib.contextmanager
def spared_by_collector() -> Iterator[Callable[[], None]]:
    """While inside, `spare()` puts every object alive at that moment out of the collector's
    sight (`gc.freeze`) until the block ends. For a burst whose structures live until it ends:
    a 100,000-job submission's models and drafts were traversed by each collection that fell
    during its intake (0.13-0.18 s of the 1 s before its first job could start, measured).
    Objects that become garbage meanwhile are still freed by reference counting."""
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


def run_service(build: Callable[[Settings], Service], settings: Settings | None = None, *, name: str = "") -> int:
    """A service's whole life as a process: build it from the environment, serve it, exit status.

    What every `services/<name>/__main__.py` and `batchq run <name>` does; with
    `BATCHQ_METRICS_ADDR` set it also serves its own `/health` and `/metrics` (the
    API serves them itself). A setup problem (a server out of reach, an unmigrated
    database, a busy address) is one line and exit 1.
    """
    from services.adapters.metrics import with_metrics  # prometheus-client: only in a serving process

    tune_garbage_collector()
    settings = settings or Settings.from_env()
    configure(settings.log_level)
    try:
        service = build(settings)
        if settings.metrics_addr and name != "api":
            service = with_metrics(service, name, settings)
        asyncio.run(serve(service))
    except SetupError as error:
        print(f"batchq: {error}", file=sys.stderr)
        return 1
    return 0


class ChildProcess:
    """`python -m MODULE` in a process of its own, restarted when it exits, until stopped.

    The dispatcher runs the relay this way: the relay publishes every event, and
    sharing a process (so a GIL) with the dispatcher it would be the slowest step
    of every batch. The child sees the same servers as its parent.
    """

    RESTART_SECONDS = 1.0

    def __init__(self, module: str, settings: Settings, **environment: str) -> None:
        self.module = module
        self.settings = settings
        self.environment = environment  # set for the child only, over the settings' own
        self.process: asyncio.subprocess.Process | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.stopping = False

    async def start(self) -> None:
        self.stopping = False
        self.watcher = asyncio.create_task(self._keep_running())

    async def _keep_running(self) -> None:
        while not self.stopping:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, env={**self.settings.child_environment(), **self.environment}
            )
            code = await self.process.wait()
            if not self.stopping:
                log.error("child_process_exited", module=self.module, exit_code=code, restart_in=self.RESTART_SECONDS)
                await asyncio.sleep(self.RESTART_SECONDS)

    async def stop(self) -> None:
        self.stopping = True
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                self.process.kill()
        if self.watcher is not None:
            await self.watcher
