"""A worker alone on the embedded adapters: SQLite store, in-process bus, in-memory locks. No servers.

Given: jobs appended to the store as the dispatcher appends them (`JobSubmitted`).
When: a job message is delivered to the worker's claim pipeline, as the broker
delivers it. Then: the job's events in the store, the delivery's verdict, and
what the locks and the heartbeat were told. The worker is the real one, built
by its bootstrap; only the handlers are the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from contracts import names
from contracts.jobs import encode_job_message
from domain.job import Job, submit_job
from services.adapters.bus import Delivery, Verdict
from services.adapters.locks import MemoryLocks
from services.adapters.memory_bus import MemoryBus
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.worker import bootstrap
from services.worker.handlers import Handler, JobContext
from services.worker.service import WorkerService

BATCH_ID = UUID("6f1e0c1a-4a55-4d0f-9c2e-2f7f3b1c9a10")
WORKER_ID = "worker-under-test"
JOB_QUEUE = names.job_queue("default")


def new_job(handler: str = "noop", **fields: Any) -> Job:
    """A PENDING job as the dispatcher submits it."""
    return submit_job(
        job_uuid=uuid4(),
        batch_id=BATCH_ID,
        tenant="acme",
        user_id="depositor-7",
        trace_id="trace-1",
        now=datetime.now(UTC),
        handler=handler,
        **fields,
    )


class Gate:
    """`handle` runs until the test opens the gate, so the test can look at a running job."""

    def __init__(self, result: Any = None, progress: tuple[float, str] | None = None) -> None:
        self.result = result
        self.progress = progress
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()

    async def handle(self, ctx: JobContext) -> Any:
        if self.progress is not None:
            ctx.progress(*self.progress)
        self.entered.set()
        await self.opened.wait()
        return self.result


@dataclass
class WorkerUnderTest:
    store: EventStore
    bus: MemoryBus
    locks: MemoryLocks
    worker: WorkerService

    def given(self, *aggregates: Any) -> None:
        self.store.save(*aggregates)

    async def deliver(self, *job_uuids: UUID) -> Verdict:
        """One job message, as the broker hands it to the worker."""
        body = encode_job_message(list(job_uuids))
        return await self.worker.pipeline.on_job(Delivery(JOB_QUEUE, "default", body))

    async def running(self, job: Job, gate: Gate) -> None:
        """Given `job` in the store, when it is delivered, then its gated handler is running."""
        self.given(job)
        await self.deliver(job.id)
        await gate.entered.wait()

    async def settle(self) -> None:
        """Until every job taken has run and its outcome is recorded."""
        await self.worker.runner.wait(timeout=10)
        await self.worker.runner.drain()

    def events(self, job_uuid: UUID) -> list[str]:
        return [type(r.event).__name__ for r in self.store.history([job_uuid])]

    def event(self, job_uuid: UUID, name: str) -> Any:
        (found,) = [r.event for r in self.store.history([job_uuid]) if type(r.event).__name__ == name]
        return found

    def job(self, job_uuid: UUID) -> Job:
        job: Job = self.store.get(job_uuid)
        return job


@contextlib.asynccontextmanager
async def worker_on(
    directory: Path,
    handlers: dict[str, Handler],
    *,
    concurrency: int = 8,
    consume: bool = False,
    before_start: Callable[[WorkerUnderTest], None] | None = None,
) -> AsyncIterator[WorkerUnderTest]:
    """A worker on a fresh embedded store. It consumes the in-process bus only with `consume`:
    otherwise each test delivers its messages itself, and sees their verdicts."""
    settings = Settings().model_copy(update={"worker_id": WORKER_ID, "worker_concurrency": concurrency})
    store, bus, locks = EventStore.sqlite(directory / "store.sqlite"), MemoryBus(), MemoryLocks()
    worker = bootstrap.build(settings, store=store, bus=bus, locks=locks, handlers=handlers)
    under_test = WorkerUnderTest(store, bus, locks, worker)
    if before_start is not None:
        before_start(under_test)
    if consume:
        await worker.start()
    else:
        await bus.connect()
    try:
        yield under_test
    finally:
        await worker.stop()
        store.close()


@dataclass(frozen=True)
class Outcome:
    """Then: what came of the deliveries, read once every job taken had run and been recorded."""

    verdicts: list[Verdict]
    history: dict[UUID, list[Any]]  # each given job's events, in store order
    completed: int  # jobs this worker completed

    def events(self, job_uuid: UUID) -> list[str]:
        return [type(event).__name__ for event in self.history[job_uuid]]

    def event(self, job_uuid: UUID, name: str) -> Any:
        (found,) = [event for event in self.history[job_uuid] if type(event).__name__ == name]
        return found


def deliver(directory: Path, handlers: dict[str, Handler], given: list[Any], *messages: list[UUID]) -> Outcome:
    """Given these aggregates in the store, when each message is delivered in turn (each settled
    before the next), then the outcome."""

    async def scenario() -> Outcome:
        async with worker_on(directory, handlers) as w:
            w.given(*given)
            verdicts = []
            for job_uuids in messages:
                verdicts.append(await w.deliver(*job_uuids))
                await w.settle()
            history = {a.id: [r.event for r in w.store.history([a.id])] for a in given}
            return Outcome(verdicts, history, w.worker.runner.completed)

    result: Outcome = run(scenario)
    return result


def run(scenario: Callable[[], Any]) -> Any:
    """Run an async scenario to its end, with a bound so a hang fails rather than stalls."""

    async def bounded() -> Any:
        async with asyncio.timeout(30):
            return await scenario()

    return asyncio.run(bounded())
