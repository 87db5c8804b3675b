"""A job cancelled while it runs (contract v1.1, running jobs): the worker stops it, and nothing it returns counts."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from contracts import names
from services.adapters.bus import Delivery
from services.adapters.envelopes import dumps, envelope
from services.adapters.memory_bus import EMBEDDED_PRINCIPAL
from services.worker.handlers import JobContext
from tests.unit.services.worker_harness import Gate, WorkerUnderTest, new_job, run, worker_on


def cancel_while_running(w: WorkerUnderTest, job_uuid: Any) -> Any:
    """The dispatcher records the cancellation; the relay's message reaches the worker's control queue."""
    job = w.job(job_uuid)
    job.cancel("cancelled by admin", job.modified_on)
    [recorded] = w.store.save(job)
    body = dumps(envelope(recorded.position, recorded.event))
    key = "acme.job.JobCancelled"
    return w.worker.on_control(Delivery(names.WORKER_CONTROL_QUEUE, key, body, user_id=EMBEDDED_PRINCIPAL))


def test_an_async_handler_of_a_job_cancelled_while_running_is_stopped_and_records_nothing(tmp_path: Path) -> None:
    job, gate = new_job("gate"), Gate(result="never")

    async def scenario() -> None:
        async with worker_on(tmp_path, {"gate": gate.handle}, before_start=_relay_is_dev) as w:
            await w.running(job, gate)
            await cancel_while_running(w, job.id)
            await w.settle()
            assert w.events(job.id) == ["JobSubmitted", "JobStarted", "JobCancelled"]
            assert w.locks.holding == set()
            assert w.worker.runner.claims == {}
            assert not gate.opened.is_set()  # stopped, not finished

    run(scenario)


def test_a_sync_handler_sees_it_is_cancelled_and_its_late_result_is_refused(tmp_path: Path) -> None:
    job, entered, seen = new_job("sync"), threading.Event(), threading.Event()

    def sync_handler(ctx: JobContext) -> Any:
        entered.set()
        for _ in range(500):
            if ctx.cancelled:
                seen.set()
                return "stopped early"
            threading.Event().wait(0.01)
        return "ran to the end"

    async def scenario() -> None:
        async with worker_on(tmp_path, {"sync": sync_handler}, before_start=_relay_is_dev) as w:
            w.given(job)
            await w.deliver(job.id)
            while not entered.is_set():
                await _tick()
            await cancel_while_running(w, job.id)
            await w.settle()
            assert seen.is_set()
            assert w.events(job.id) == ["JobSubmitted", "JobStarted", "JobCancelled"]
            assert w.locks.holding == set()

    run(scenario)


def _relay_is_dev(w: WorkerUnderTest) -> None:
    w.worker.relay_principal = EMBEDDED_PRINCIPAL  # the embedded bus publishes everything as `dev`


async def _tick() -> None:
    await asyncio.sleep(0.01)


def test_once_an_append_is_refused_no_later_progress_or_result_of_that_attempt_slips_past_the_fence(
    tmp_path: Path,
) -> None:
    job, gate = new_job("gate"), Gate(result="too late", progress=(0.25, "a quarter"))

    async def scenario() -> None:
        async with worker_on(tmp_path, {"gate": gate.handle}) as w:
            await w.running(job, gate)
            fenced = w.job(job.id)  # the dispatcher finds the worker lost: one event fences the attempt
            fenced.lose_worker(1, fenced.modified_on)
            w.given(fenced)
            claim = w.worker.claims[(job.id, 1)]
            await w.worker.runner.flush_progress()  # refused: the attempt is over
            claim.context.progress(0.75, "three quarters")
            await w.worker.runner.flush_progress()  # must be refused too, not appended one version on
            gate.opened.set()
            await w.settle()
            assert w.events(job.id) == ["JobSubmitted", "JobStarted", "JobFailed"]

    run(scenario)
