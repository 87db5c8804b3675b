"""The runner: a claimed job's handler runs, and its progress and outcome are recorded.

Async handlers run on the event loop, sync ones on a thread pool of the worker's
concurrency, so a CPU-bound handler never stops heartbeats or the broker
connection. Outcomes and progress go through one group-commit batcher: one
append for many jobs, each at the version its claim left, so an attempt fenced
off meanwhile (stuck, orphaned, cancelled) is refused, never recorded. An
attempt's advisory lock is released once its outcome is recorded or refused.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

from domain.job import Job, JobError
from services.adapters.batching import Batcher
from services.adapters.locks import Locks
from services.adapters.logging import get_logger
from services.worker.application import Completed, Failed, Outcome, Progressed, WorkerApplication
from services.worker.claims import Claim, Claims
from services.worker.handlers import Handler, HandlerError, JobContext, check_result

log = get_logger("batchq.worker")


def error_of(exc: BaseException, stage: str) -> JobError:
    """A handler's exception as a job's error: its code, reason, traceback and the stage it failed in."""
    if isinstance(exc, HandlerError):
        code, reason, stage = exc.code, exc.reason, exc.stage or stage
    else:
        code, reason = "HANDLER_ERROR", f"{type(exc).__name__}: {exc}"
    return JobError(code, reason, "".join(traceback.format_exception(exc)), stage)


def unknown_handler_error(name: str) -> JobError:
    return JobError("UNKNOWN_HANDLER", f"no handler named {name!r}", stage="claim")


# A job whose inputs were erased (its depositor, or its batch's retention) is not run
# on what is left of them: it fails, with no handler called, and can only fail again.
ERASED_INPUTS = JobError(
    "PERSONAL_DATA_ERASED", "the job's personal data (params, payload_url) was erased before it ran", stage="claim"
)


class Runner:
    def __init__(
        self, app: WorkerApplication, locks: Locks, claims: Claims, handlers: dict[str, Handler], concurrency: int
    ) -> None:
        self.app = app
        self.locks = locks
        self.claims = claims
        self.handlers = handlers
        self.threads = ThreadPoolExecutor(concurrency, thread_name_prefix="handler")
        self.outcomes: Batcher[tuple[Job, Outcome], bool] = Batcher(self._record, max_size=concurrency, linger=0.003)
        self.recording = asyncio.Lock()
        self.running: set[asyncio.Task[None]] = set()
        self.tasks: dict[tuple[UUID, int], asyncio.Task[None]] = {}  # by claim: what a cancellation stops
        self.completed = 0

    def start(self, claim: Claim, over: Callable[[], None]) -> None:
        """Run a won claim in its own task; `over` is called when it is done, whatever happened."""
        task = asyncio.create_task(self._run(claim, over))
        self.running.add(task)
        self.tasks[claim.key] = task
        task.add_done_callback(self.running.discard)
        task.add_done_callback(lambda _: self.tasks.pop(claim.key, None))

    def cancel(self, job_uuid: UUID, attempt: int) -> bool:
        """The job was cancelled while this worker runs it: stop an async handler, tell a sync one.

        The store has fenced the attempt off already, so nothing the handler returns is recorded;
        a sync handler's thread cannot be interrupted, so it keeps its slot until it returns.
        """
        claim = self.claims.get((job_uuid, attempt))
        task = self.tasks.get((job_uuid, attempt))
        if claim is None or task is None:
            return False
        claim.context.cancelled = True
        if inspect.iscoroutinefunction(self.handlers.get(claim.job.handler)):
            task.cancel()
        log.info("job_cancel_requested", **self._log_context(claim.job))
        return True

    async def _run(self, claim: Claim, over: Callable[[], None]) -> None:
        job = claim.job
        try:
            outcome = await self._execute(job, claim.context)
            accepted = await self.outcomes.submit((job, outcome))
            if not accepted:
                log.warning("late_result_refused", **self._log_context(job))
            elif isinstance(outcome, Completed):
                self.completed += 1  # JobStarted, JobCompleted, JobFailed are logged with their appends
        except Exception:  # the store refused the outcome: the lock goes, and the dispatcher fences the attempt
            log.exception("outcome_not_recorded", **self._log_context(job))
        finally:
            self.claims.pop(claim.key, None)
            try:
                if claim.holds_lock:  # not released with its outcome (an error)
                    claim.holds_lock = False
                    await self.locks.release([claim.key])
            finally:
                over()  # the slot is freed even if the lock's release failed

    def _log_context(self, job: Job) -> dict[str, Any]:
        return {
            "job_uuid": str(job.id),
            "batch_id": str(job.batch_id),
            "trace_id": job.trace_id,
            "attempt": job.attempts,
            "worker_id": self.app.worker_id,
        }

    async def _execute(self, job: Job, context: JobContext) -> Outcome:
        handler = self.handlers.get(job.handler)
        if handler is None:
            return Failed(unknown_handler_error(job.handler))
        if context.erased:
            return Failed(ERASED_INPUTS)
        try:
            if inspect.iscoroutinefunction(handler):
                result = await handler(context)
            else:
                result = await asyncio.get_running_loop().run_in_executor(self.threads, handler, context)
            check_result(result)
        except Exception as exc:
            return Failed(error_of(exc, context.stage))
        return Completed(result)

    async def _record(self, outcomes: list[tuple[Job, Outcome]]) -> list[bool]:
        async with self.recording:  # one job object is never saved by two threads at once
            accepted = await asyncio.to_thread(self.app.record, outcomes)
        # The attempts are over, recorded or refused: release their locks in one round trip.
        finished = [(job.id, job.attempts) for job, outcome in outcomes if not isinstance(outcome, Progressed)]
        for key in finished:
            claim = self.claims.get(key)
            if claim is not None:
                claim.holds_lock = False
        await self.locks.release(finished)
        return accepted

    async def flush_progress(self) -> None:
        """Record the latest progress of every running claim that reported some: one append for all."""
        updates = []
        for claim in list(self.claims.values()):
            taken = claim.context.take_progress() if claim.holds_lock else None
            if taken is not None:
                updates.append(self.outcomes.submit((claim.job, Progressed(*taken))))
        await asyncio.gather(*updates)

    async def wait(self, timeout: float) -> None:
        """Let running jobs finish, up to `timeout` seconds."""
        if self.running:
            await asyncio.wait(self.running, timeout=timeout)

    async def drain(self) -> None:
        """Record every outcome still waiting in the batcher."""
        await self.outcomes.drain()

    def close(self) -> None:
        self.threads.shutdown(wait=False)
