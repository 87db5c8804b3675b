"""The worker process: claim, lock, heartbeat, run handlers, record outcomes.

A delivery is acked as soon as its claim is recorded: from then on the store,
not the broker, owns the job, so a job longer than RabbitMQ's consumer timeout
runs normally, and a worker that dies is found by its vanished lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from contracts import names
from contracts.errors import ContractError
from contracts.jobs import JOBS_PER_MESSAGE, decode_job_message, encode_job_message
from domain.job import Job
from domain.queue import QUEUE_ID
from services.adapters.batching import Batcher
from services.adapters.bus import Bus, Delivery, Message, Verdict
from services.adapters.locks import Locks
from services.adapters.logging import get_logger
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.adapters.topology import WORKER_CONTROL_KEYS
from services.worker.application import Completed, Failed, Outcome, Progressed, WorkerApplication
from services.worker.handlers import Handler, HandlerError, JobContext, check_result, discover

log = get_logger("batchq.worker")


def utcnow() -> datetime:
    return datetime.now(UTC)


def error_of(exc: BaseException, stage: str) -> dict[str, Any]:
    if isinstance(exc, HandlerError):
        code, reason, stage = exc.code, exc.reason, exc.stage or stage
    else:
        code, reason = "HANDLER_ERROR", f"{type(exc).__name__}: {exc}"
    trace = "".join(traceback.format_exception(exc))
    return {"code": code, "reason": reason, "traceback": trace, "stage": stage}


class WorkerService:
    def __init__(
        self, settings: Settings, store: EventStore, bus: Bus, locks: Locks, handlers: dict[str, Handler] | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.locks = locks
        self.handlers = handlers if handlers is not None else discover()
        self.worker_id = settings.worker_id
        self.app = WorkerApplication(store, self.worker_id, utcnow)
        self.queue = names.job_queue(settings.pool)
        self.slots = asyncio.Semaphore(settings.worker_concurrency)
        self.busy = 0  # jobs taken from messages and not yet finished
        self.threads = ThreadPoolExecutor(settings.worker_concurrency, thread_name_prefix="handler")
        self.running: dict[tuple[uuid.UUID, int], JobContext] = {}
        self.live: dict[tuple[uuid.UUID, int], Job] = {}
        self.claims: Batcher[uuid.UUID, Job | None] = Batcher(self._claim, max_size=64, linger=0.002)
        self.outcomes: Batcher[tuple[Job, Outcome], bool] = Batcher(self._record, max_size=128, linger=0.003)
        self.recording = asyncio.Lock()
        self.paused = False
        self.consuming = False
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.jobs_running: set[asyncio.Task[None]] = set()
        self.completed = 0

    async def start(self) -> None:
        await self.bus.connect()
        queue = await asyncio.to_thread(self.store.get_many, [QUEUE_ID])
        self.paused = bool(queue and queue[QUEUE_ID].paused)
        await self.bus.subscribe(names.EVENTS_EXCHANGE, WORKER_CONTROL_KEYS, self.on_control)
        await self._beat()
        self.tasks = [
            asyncio.create_task(self._every(self.settings.heartbeat_seconds, self._beat)),
            asyncio.create_task(self._every(self.settings.progress_interval_seconds, self._flush_progress)),
        ]
        if not self.paused:
            await self._consume()
        log.info("worker_started", worker_id=self.worker_id, pool=self.settings.pool, paused=self.paused)

    async def stop(self) -> None:
        """Stop taking jobs, let running ones finish, record their outcomes."""
        await self._stop_consuming()
        if self.jobs_running:
            await asyncio.wait(self.jobs_running, timeout=30)
        await self.claims.drain()
        await self.outcomes.drain()
        self.stopping.set()
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.locks.forget(self.worker_id)
        await self.bus.close()
        await self.locks.close()
        self.threads.shutdown(wait=False)
        log.info("worker_stopped", worker_id=self.worker_id, completed=self.completed)

    async def _consume(self) -> None:
        if not self.consuming:
            self.consuming = True
            prefetch = max(2, self.settings.worker_concurrency // JOBS_PER_MESSAGE + 1)
            await self.bus.consume(self.queue, self.on_job, prefetch=prefetch)

    async def _stop_consuming(self) -> None:
        if self.consuming:
            self.consuming = False
            await self.bus.stop_consuming(self.queue)

    # -- pause and resume (QUEUE-014) -------------------------------------------

    async def on_control(self, delivery: Delivery) -> Verdict:
        event_type = delivery.routing_key.rsplit(".", 1)[-1]
        if event_type == "QueuePaused":
            await self._pause()
        else:
            self.paused = False
            log.info("queue_resumed", worker_id=self.worker_id)
            await self._consume()
        return Verdict.ack()

    async def _pause(self) -> None:
        self.paused = True
        log.info("queue_paused", worker_id=self.worker_id)
        await self._stop_consuming()

    # -- jobs --------------------------------------------------------------------

    async def on_job(self, delivery: Delivery) -> Verdict:
        try:
            job_uuids = decode_job_message(delivery.body)
        except ContractError as error:
            return Verdict.reject(f"{error.code}: {error.reason}")
        if self.paused:
            return Verdict.requeue("queue paused")
        # Take what there are free slots for (at least one); pass the rest back to
        # the queue before acking, so other workers can start them meanwhile.
        free = max(1, self.settings.worker_concurrency - self.busy)
        taken, passed_on = job_uuids[:free], job_uuids[free:]
        if passed_on:
            message = Message(routing_key=delivery.routing_key, body=encode_job_message(passed_on))
            await self.bus.publish(names.JOBS_EXCHANGE, message)
        self.busy += len(taken)
        await asyncio.gather(*(self._take(job_uuid) for job_uuid in taken))
        if self.paused:  # paused meanwhile: what was not claimed waits in the queue
            return Verdict.requeue("queue paused")
        return Verdict.ack()

    async def _take(self, job_uuid: uuid.UUID) -> None:
        """Claim one job and start it; a stale copy (claimed, finished, cancelled) is dropped."""
        await self.slots.acquire()
        try:
            job = await self.claims.submit(job_uuid)
        except BaseException:
            self._free_slot()
            raise
        if job is None:
            self._free_slot()
            return
        task = asyncio.create_task(self._run(job))
        self.jobs_running.add(task)
        task.add_done_callback(self.jobs_running.discard)

    def _free_slot(self) -> None:
        self.busy -= 1
        self.slots.release()

    async def _claim(self, job_uuids: list[uuid.UUID]) -> list[Job | None]:
        claimable = await asyncio.to_thread(self.app.claimable, list(dict.fromkeys(job_uuids)))
        if claimable.paused and not self.paused:
            await self._pause()  # the queue paused before this worker heard of it
        pending = claimable.jobs
        # A claim this process is already making (a duplicate delivery) is left to that one.
        wanted = [
            (job.id, job.attempts + 1) for job in pending.values() if (job.id, job.attempts + 1) not in self.running
        ]
        for claim in wanted:  # the heartbeat names a claim before it exists: see dispatcher.recovery
            self.running[claim] = self._context(pending[claim[0]], claim[1])
        await self._beat()
        held = await self.locks.try_hold(wanted)
        started = await asyncio.to_thread(
            self.app.start, [pending[j] for j, a in wanted if (j, a) in held], claimable.queue_version
        )
        won = {job.id: job for job in started}
        lost = [claim for claim in wanted if claim[0] not in won]
        for claim in lost:
            self.running.pop(claim, None)
        await self.locks.release([c for c in lost if c in held])
        given: set[uuid.UUID] = set()
        result: list[Job | None] = []
        for job_uuid in job_uuids:  # a duplicate delivery in the same group gets nothing
            result.append(won.get(job_uuid) if job_uuid not in given else None)
            given.add(job_uuid)
        return result

    def _context(self, job: Job, attempt: int) -> JobContext:
        return JobContext(job.id, job.batch_id, attempt, dict(job.params), job.payload_url)  # type: ignore[arg-type]

    async def _run(self, job: Job) -> None:
        claim = (job.id, job.attempts)
        ctx = self.running[claim]
        self.live[claim] = job
        context = {
            "job_uuid": str(job.id),
            "batch_id": str(job.batch_id),
            "user_id": job.user_id,
            "trace_id": job.trace_id,
            "attempt": job.attempts,
            "worker_id": self.worker_id,
        }
        try:
            outcome = await self._execute(job, ctx)
            accepted = await self.outcomes.submit((job, outcome))
            if not accepted:
                log.warning("late_result_refused", **context)
            elif isinstance(outcome, Completed):
                self.completed += 1  # JobStarted, JobCompleted, JobFailed are logged with their appends
        finally:
            self.running.pop(claim, None)
            if self.live.pop(claim, None) is not None:  # not released with its outcome (an error)
                await self.locks.release([claim])
            self._free_slot()

    async def _execute(self, job: Job, ctx: JobContext) -> Outcome:
        handler = self.handlers.get(job.handler)
        if handler is None:
            return Failed(
                {
                    "code": "UNKNOWN_HANDLER",
                    "reason": f"no handler named {job.handler!r}",
                    "traceback": "",
                    "stage": "claim",
                }
            )
        try:
            if inspect.iscoroutinefunction(handler):
                result = await handler(ctx)
            else:
                result = await asyncio.get_running_loop().run_in_executor(self.threads, handler, ctx)
            check_result(result)
        except Exception as exc:
            return Failed(error_of(exc, ctx.stage))
        return Completed(result)

    async def _record(self, outcomes: list[tuple[Job, Outcome]]) -> list[bool]:
        async with self.recording:  # one job object is never saved by two threads at once
            accepted = await asyncio.to_thread(self.app.record, outcomes)
        # The attempts are over, recorded or refused: release their locks in one round trip.
        finished = [(job.id, job.attempts) for job, outcome in outcomes if not isinstance(outcome, Progressed)]
        for claim in finished:
            self.live.pop(claim, None)
        await self.locks.release(finished)
        return accepted

    async def _flush_progress(self) -> None:
        updates = []
        for (job_uuid, attempt), ctx in list(self.running.items()):
            taken = ctx.take_progress()
            if taken is not None:
                updates.append((job_uuid, attempt, taken))
        # Through the outcome batcher, on the live job objects: one append for all.
        await asyncio.gather(
            *(
                self.outcomes.submit((self.live[(job_uuid, attempt)], Progressed(fraction, message)))
                for job_uuid, attempt, (fraction, message) in updates
                if (job_uuid, attempt) in self.live
            )
        )

    async def _beat(self) -> None:
        await self.locks.beat(self.worker_id, list(self.running), utcnow())

    async def _every(self, seconds: float, action: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except Exception:
                log.exception("periodic_task_failed", worker_id=self.worker_id)
