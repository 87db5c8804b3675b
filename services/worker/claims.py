"""The claim pipeline: job messages in, claimed jobs handed to the runner.

A job message is only a hint (see `WorkerApplication.claimable`). The pipeline
takes as many of its jobs as there are free slots and passes the rest back to
the queue, claims them in groups (`JobStarted` at each job's expected version,
one append per group, after naming the claims in a heartbeat and taking their
advisory locks), and starts the ones it won. The delivery is acked once its
jobs are claimed or dropped: from then on the store, not the broker, owns them.

Every attempt this worker claims or runs has one `Claim` record, keyed by
(job, attempt), from before its claim is made until its outcome is recorded;
the heartbeat names them, the runner records their progress and outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg
from eventsourcing.persistence import PersistenceError

from contracts import names
from contracts.errors import ContractError
from contracts.jobs import JOBS_PER_MESSAGE, decode_job_message, encode_job_message
from domain.job import Job
from domain.personal import ERASED
from services.adapters.batching import Batcher
from services.adapters.bus import Bus, Delivery, Message, Verdict
from services.adapters.locks import Locks
from services.adapters.logging import get_logger
from services.worker.application import WorkerApplication
from services.worker.handlers import JobContext
from services.worker.slots import Slots

log = get_logger("batchq.worker")

ClaimKey = tuple[uuid.UUID, int]  # (job, attempt)
CLAIM_RETRY_SECONDS = 1.0
STORE_ERRORS = (psycopg.Error, PersistenceError, OSError, TimeoutError)


@dataclass
class Claim:
    """One attempt of one job on this worker: claiming, running, or waiting for its outcome to be recorded."""

    job: Job
    key: ClaimKey  # (job, attempt)
    context: JobContext
    holds_lock: bool = False  # won, and its lock not yet released with its outcome

    @classmethod
    def of(cls, job: Job) -> Claim:
        attempt = job.attempts + 1
        erased = job.params == ERASED or job.payload_url == ERASED
        params = {} if erased else dict(job.params)
        context = JobContext(job.id, job.batch_id, attempt, params, job.payload_url, erased=erased)  # type: ignore[arg-type]
        return cls(job, (job.id, attempt), context)


Claims = dict[ClaimKey, Claim]
Start = Callable[[Claim, Callable[[], None]], None]  # run a won claim; call the second argument when it is over


class ClaimPipeline:
    def __init__(
        self,
        app: WorkerApplication,
        bus: Bus,
        locks: Locks,
        claims: Claims,
        *,
        queue: str,
        concurrency: int,
        beat: Callable[[], Awaitable[None]],
        start: Start,
    ) -> None:
        self.app = app
        self.bus = bus
        self.locks = locks
        self.claims = claims
        self.queue = queue
        self.concurrency = concurrency
        self.beat = beat
        self.start = start
        self.slots = Slots(concurrency)
        self.batcher: Batcher[uuid.UUID, Claim | None] = Batcher(self._claim, max_size=concurrency, linger=0.002)
        self.paused = False
        self.consuming = False

    # -- consuming, pause and resume (QUEUE-014) ------------------------------------

    async def consume(self) -> None:
        if not self.consuming:
            self.consuming = True
            prefetch = max(2, self.concurrency // JOBS_PER_MESSAGE + 1)
            await self.bus.consume(self.queue, self.on_job, prefetch=prefetch)

    async def stop_consuming(self) -> None:
        if self.consuming:
            self.consuming = False
            await self.bus.stop_consuming(self.queue)

    async def pause(self) -> None:
        self.paused = True
        log.info("queue_paused", worker_id=self.app.worker_id)
        await self.stop_consuming()

    async def resume(self) -> None:
        self.paused = False
        log.info("queue_resumed", worker_id=self.app.worker_id)
        await self.consume()

    # -- job messages --------------------------------------------------------------

    async def on_job(self, delivery: Delivery) -> Verdict:
        try:
            job_uuids = decode_job_message(delivery.body)
        except ContractError as error:
            return Verdict.reject(f"{error.code}: {error.reason}")
        if self.paused:
            return Verdict.requeue("queue paused")
        # Take what there are free slots for; pass the rest back to the queue before
        # acking, so other workers can start them meanwhile.
        turns = self.slots.take(len(job_uuids))
        taken, passed_on = job_uuids[: len(turns)], job_uuids[len(turns) :]
        if passed_on:
            message = Message(routing_key=delivery.routing_key, body=encode_job_message(passed_on))
            await self.bus.publish(names.JOBS_EXCHANGE, message)
        try:
            await asyncio.gather(*(self._take(job_uuid, turn) for job_uuid, turn in zip(taken, turns, strict=True)))
        except STORE_ERRORS as error:
            return await self._claim_later(delivery, taken, error)
        if self.paused:  # paused meanwhile: what was not claimed waits in the queue
            return Verdict.requeue("queue paused")
        return Verdict.ack()

    async def _claim_later(self, delivery: Delivery, job_uuids: list[uuid.UUID], error: Exception) -> Verdict:
        """The store failed while claiming: send the jobs round again, as a fresh message, after a pause.

        A requeue would count against the jobs queue's delivery limit: a database outage of a
        few seconds would dead-letter the message, and its jobs would wait PENDING for ever
        (seen in tests/faults/test_database_network_faults.py). A fresh copy starts its count
        afresh; one already claimed meanwhile is dropped as stale when it comes back.
        """
        log.warning("claim_failed", jobs=len(job_uuids), reason=" ".join(str(error).split())[:300], retry_in=1.0)
        await asyncio.sleep(CLAIM_RETRY_SECONDS)
        message = Message(routing_key=delivery.routing_key, body=encode_job_message(job_uuids))
        await self.bus.publish(names.JOBS_EXCHANGE, message)
        return Verdict.ack()

    async def _take(self, job_uuid: uuid.UUID, turn: asyncio.Future[None]) -> None:
        """Claim one job in its turn and start it; a stale copy (claimed, finished, cancelled) is dropped."""
        try:
            await turn
            claim = await self.batcher.submit(job_uuid)
        except BaseException:
            self.slots.release(turn)
            raise
        if claim is None:
            self.slots.release(turn)
            return
        self.start(claim, lambda: self.slots.release(turn))

    async def _claim(self, job_uuids: list[uuid.UUID]) -> list[Claim | None]:
        """Claim a group of jobs in one append; each caller gets its claim if this worker won it."""
        claimable = await asyncio.to_thread(self.app.claimable, list(dict.fromkeys(job_uuids)))
        if claimable.paused and not self.paused:
            await self.pause()  # the queue paused before this worker heard of it
        # A claim this process is already making (a duplicate delivery) is left to that one.
        wanted = [Claim.of(job) for job in claimable.jobs.values() if (job.id, job.attempts + 1) not in self.claims]
        for claim in wanted:  # the heartbeat names a claim before it exists: see dispatcher.recovery
            self.claims[claim.key] = claim
        held: set[ClaimKey] = set()
        try:
            await self.beat()
            held = await self.locks.try_hold([claim.key for claim in wanted])
            locked = [claim for claim in wanted if claim.key in held]
            started = await asyncio.to_thread(self.app.start, [c.job for c in locked], claimable.queue_version)
        except BaseException:  # not claimed: a later copy of these jobs must find them neither in hand nor locked
            for claim in wanted:
                self.claims.pop(claim.key, None)
            with contextlib.suppress(Exception):  # a lock connection that broke took its locks with it
                await self.locks.release(list(held))
            raise
        won_ids = {job.id for job in started}
        won = {claim.job.id: claim for claim in wanted if claim.job.id in won_ids}
        for claim in wanted:
            if claim.job.id in won:
                claim.holds_lock = True
            else:
                self.claims.pop(claim.key, None)
        await self.locks.release([c.key for c in locked if c.job.id not in won])
        given: set[uuid.UUID] = set()
        result: list[Claim | None] = []
        for job_uuid in job_uuids:  # a duplicate delivery in the same group gets nothing
            result.append(won.get(job_uuid) if job_uuid not in given else None)
            given.add(job_uuid)
        return result

    async def drain(self) -> None:
        await self.batcher.drain()
