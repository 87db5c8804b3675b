"""Jobs dispatched but never started: their message is sent again (part of the recovery scan).

A job's message can go missing after the job was dispatched: a publish left unconfirmed
in a partition, a delivery dead-lettered at the jobs queue's delivery limit, or a copy a
worker dropped because the attempt's advisory lock was still held by a session the
network had cut off (the server keeps that lock until it notices the session is gone).
Nothing else sends a PENDING job again, so it would wait for ever. A second copy is
harmless: a worker claims a job at its expected version, so of two copies one starts it
and the other finds it claimed and is dropped.

A job not started may just be waiting its turn: while its pool's queue still holds
messages ready for delivery, none of that pool's jobs is sent again (the recovery scan
asks the broker); once the queue has emptied, one still not started is lost. The view
hears outcomes, not `JobStarted`, so a job it shows PENDING may be running: candidates
are loaded before anything is sent, and one found running is taken into the view, which
ends its watch. The wait doubles after every re-send, so jobs held unacknowledged by a
busy worker (its prefetch) cost a few copies each at most, not one per scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from domain.dependencies import is_ready
from domain.queue import QUEUE_ID
from domain.states import JobStatus
from services.adapters.logging import get_logger
from services.dispatcher.application import Dispatcher, Effects

log = get_logger("batchq.dispatcher")

LONGEST_WAIT_FACTOR = 16  # the wait doubles up to this many times the first one
MOST_PER_SCAN = 1000  # a scan's store work stays bounded however many jobs fall due at once


@dataclass(slots=True)
class Watch:
    version: int  # the view's version of the job when the watch began
    due: datetime
    wait: float  # seconds


class Redispatch:
    """Runs on the dispatcher's thread, like every use of the view."""

    def __init__(self, app: Dispatcher, after_seconds: float) -> None:
        self.app = app
        self.after = after_seconds
        self.watches: dict[UUID, Watch] = {}
        self.view = app.view

    def due(self, now: datetime) -> dict[str, list[UUID]]:
        """The jobs the view has shown PENDING and dispatchable, at one version, for longer than their wait; by pool.

        A job waiting for a dependency or a retry backoff is dispatched when that ends, at the
        same version: its watch starts afresh on every scan until then.
        """
        view, pending = self.app.view, set()
        if view is not self.view:  # rebuilt (leading again): it dispatched every waiting job itself
            self.view, self.watches = view, {}
        due: dict[str, list[UUID]] = {}
        count = 0
        for batch in view.batches.values():
            if not batch.tally.counts[JobStatus.PENDING]:
                continue
            for job_uuid in batch.job_uuids:
                entry = view.jobs.get(job_uuid)
                if entry is None or entry.status is not JobStatus.PENDING:
                    continue
                pending.add(job_uuid)
                watch = self.watches.get(job_uuid)
                held = (entry.not_before is not None and entry.not_before > now) or not is_ready(
                    entry.depends_on, view.done
                )
                if watch is None or watch.version != entry.version:
                    self.watches[job_uuid] = Watch(entry.version, now + timedelta(seconds=self.after), self.after)
                elif held:
                    watch.due = now + timedelta(seconds=self.after)
                elif watch.due <= now and count < MOST_PER_SCAN:
                    due.setdefault(entry.pool, []).append(job_uuid)
                    count += 1
        for job_uuid in self.watches.keys() - pending:
            del self.watches[job_uuid]
        return due

    def send(self, due: list[UUID], now: datetime) -> Effects:
        """Dispatch again those still PENDING and dispatchable; the others' watches end or wait longer."""
        if not due:
            return Effects()
        if self._paused():  # the workers pass every message back meanwhile: nothing is lost
            for job_uuid in due:
                self._postpone(job_uuid, now)
            return Effects()
        effects = Effects()
        jobs = self.app.store.get_many(due)
        for job_uuid in due:
            job = jobs.get(job_uuid)
            if job is None or job.status is not JobStatus.PENDING:
                if job is not None:
                    self.app.view.track(job)  # running: the view moves on, and the watch ends with it
                if job is not None and job.status is JobStatus.PROCESSING:
                    # Still running once its queue has emptied: the scan checks its lock from now on,
                    # so an attempt no heartbeat lists (its worker lost its outcome) is fenced too.
                    self.app.unaccounted.add((job.id, job.attempts))
                continue
            sent = self.app.retry_due(job_uuid)  # dispatches it only if it is ready and out of backoff
            if any(d.job_uuid == job_uuid for d in sent.dispatch):
                log.warning(
                    "job_redispatched",
                    job_uuid=str(job_uuid),
                    batch_id=str(job.batch_id),
                    attempt=job.attempts + 1,
                    waited_seconds=round(self.watches[job_uuid].wait, 1),
                    trace_id=job.trace_id,
                )
            effects.merge(sent)
            self._postpone(job_uuid, now)
        return effects

    def _postpone(self, job_uuid: UUID, now: datetime) -> None:
        watch = self.watches[job_uuid]
        watch.wait = min(2 * watch.wait, LONGEST_WAIT_FACTOR * self.after)
        watch.due = now + timedelta(seconds=watch.wait)

    def _paused(self) -> bool:
        queue = self.app.store.get_many([QUEUE_ID]).get(QUEUE_ID)
        return queue is not None and bool(queue.paused)
