"""The worker process: its lifecycle, the queue's pause and resume, and the parts it wires together.

The parts, each in its own module: the claim pipeline (`claims.py`: job messages
in, claims made in groups), the runner (`runner.py`: handlers run, progress and
outcomes recorded), the heartbeat (`heartbeat.py`), and the free slots
(`slots.py`). They share one record per claim (`Claims`, keyed by job and
attempt). A delivery is acked as soon as its claims are recorded: from then on
the store, not the broker, owns the job, so a job longer than RabbitMQ's
consumer timeout runs normally, and a worker that dies is found by its vanished lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from contracts import names
from contracts.envelope import EventEnvelope, event_envelopes
from contracts.errors import ContractError
from domain.base import EVENT_CLASSES
from domain.job import JobCancelled
from domain.queue import QUEUE_ID, QueuePaused, QueueResumed
from services.adapters.authentic import relay_principal, unless_from_relay
from services.adapters.bus import Bus, Delivery, Verdict
from services.adapters.locks import Locks
from services.adapters.logging import get_logger
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.adapters.topology import WORKER_CONTROL_KEYS
from services.worker.application import WorkerApplication
from services.worker.claims import ClaimPipeline, Claims
from services.worker.handlers import Handler, discover
from services.worker.heartbeat import Heartbeat
from services.worker.runner import Runner

log = get_logger("batchq.worker")

STOP_WAIT_SECONDS = 30


def utcnow() -> datetime:
    return datetime.now(UTC)


class WorkerService:
    def __init__(
        self,
        settings: Settings,
        store: EventStore,
        bus: Bus,
        locks: Locks,
        handlers: dict[str, Handler] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.locks = locks
        self.worker_id = settings.worker_id
        self.app = WorkerApplication(store, self.worker_id, clock, settings.pool)
        self.relay_principal = relay_principal(settings)
        self.claims: Claims = {}
        self.heartbeat = Heartbeat(locks, self.worker_id, self.claims, clock)
        handlers = handlers if handlers is not None else discover()
        self.runner = Runner(self.app, locks, self.claims, handlers, settings.worker_concurrency)
        self.pipeline = ClaimPipeline(
            self.app,
            bus,
            locks,
            self.claims,
            queue=names.job_queue(settings.pool),
            concurrency=settings.worker_concurrency,
            beat=self.heartbeat.beat,
            start=self.runner.start,
        )

    async def start(self) -> None:
        await self.bus.connect()
        queue = await asyncio.to_thread(self.app.store.get_many, [QUEUE_ID])
        self.pipeline.paused = bool(queue and queue[QUEUE_ID].paused)
        await self.bus.subscribe(names.EVENTS_EXCHANGE, WORKER_CONTROL_KEYS, self.on_control)
        await self.heartbeat.beat()
        self.heartbeat.every(self.settings.heartbeat_seconds, self.heartbeat.beat)
        self.heartbeat.every(self.settings.progress_interval_seconds, self.runner.flush_progress)
        if not self.pipeline.paused:
            await self.pipeline.consume()
        log.info("worker_started", worker_id=self.worker_id, pool=self.settings.pool, paused=self.pipeline.paused)

    async def stop(self) -> None:
        """Stop taking jobs, let running ones finish, record their outcomes."""
        await self.pipeline.stop_consuming()
        await self.runner.wait(STOP_WAIT_SECONDS)
        await self.pipeline.drain()
        await self.runner.drain()
        await self.heartbeat.stop()
        await self.bus.close()
        await self.locks.close()
        self.runner.close()
        log.info("worker_stopped", worker_id=self.worker_id, completed=self.runner.completed)

    async def on_control(self, delivery: Delivery) -> Verdict:
        """QueuePaused, QueueResumed and JobCancelled, heard on the event exchange (QUEUE-014), from the relay only."""
        if forged := unless_from_relay(delivery, self.relay_principal):
            return forged
        try:
            envelopes = event_envelopes(delivery.body)
        except ContractError as error:
            return Verdict.reject(f"{error.code}: {error.reason}")
        for envelope in envelopes:
            event_class = EVENT_CLASSES.get(envelope.type)
            if event_class is QueuePaused:
                await self.pipeline.pause()
            elif event_class is QueueResumed:
                await self.pipeline.resume()
            elif event_class is JobCancelled:
                self._cancelled(envelope)
        return Verdict.ack()

    def _cancelled(self, envelope: EventEnvelope) -> None:
        """A job cancelled while running: if it runs here, stop it (the envelope names the attempt)."""
        attempt = int(envelope.data.get("attempt") or 0)
        if attempt:
            self.runner.cancel(envelope.aggregate_id, attempt)
