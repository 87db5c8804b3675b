"""The dispatcher's use cases: start-up, reactions to job outcomes, recovery.

Intake is in `intake.py`, admin commands in `admin.py`: parts of one `Dispatcher`.

Synchronous and single-threaded by design: the service runs every call on one
worker thread, so the view needs no locks and the event loop never blocks. Each
call returns `Effects` (jobs to dispatch, retries to wake up, a reply) for the
async shell to carry out; every state change is saved before any effect runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from uuid import UUID

from contracts.envelope import EventHeading
from domain.batch import Batch
from domain.dependencies import is_ready, transitive_dependents
from domain.errors import DomainError
from domain.job import Job, JobCompleted
from domain.progression import Situation, Step, next_step
from domain.retry import BackoffPolicy
from domain.states import BatchStatus, JobStatus
from services.adapters.logging import get_logger
from services.adapters.store import ConflictError, EventStore
from services.dispatcher.admin import AdminCommands
from services.dispatcher.canary import CanaryCommands
from services.dispatcher.effects import SAVE_ATTEMPTS, Dispatch, Effects
from services.dispatcher.erasure import ErasureCommands
from services.dispatcher.grants import GrantCommands
from services.dispatcher.intake import Intake
from services.dispatcher.job_id_lookup import JobIdLookups, JobsStored
from services.dispatcher.quotas import QuotaCommands
from services.dispatcher.view import DispatchView

log = get_logger("batchq.dispatcher")


class Dispatcher(Intake, AdminCommands, GrantCommands, QuotaCommands, CanaryCommands, ErasureCommands):
    def __init__(
        self,
        store: EventStore,
        view: DispatchView,
        clock: Callable[[], datetime],
        draw: Callable[[], float],
        backoff: BackoffPolicy,
    ) -> None:
        self.store = store
        self.view = view
        self.clock = clock
        self.draw = draw
        self.backoff = backoff
        # Attempts running when this dispatcher started: the recovery scan checks
        # them even if no worker ever beats for them (one that died before its
        # first heartbeat, or the embedded mode after a crash of its one process).
        self.unaccounted: set[tuple[UUID, int]] = set()
        self.jobs_stored = JobsStored()
        self.lookups = JobIdLookups(store, self.jobs_stored)

    # -- start-up ----------------------------------------------------------------

    def rebuild(self) -> Effects:
        """Rebuild the view from the store, then do whatever a crash left undone."""
        position, page = 0, 5000
        self.unaccounted = set()
        today = self.clock().date()
        while records := self.store.read(position, page, topics=BATCH_SUBMITTED_TOPICS):
            for record in records:
                submitted = record.event
                if submitted.timestamp.date() == today:
                    self.view.count_submission(submitted.tenant, submitted.user_id, today)
                batch = self.store.get(submitted.originator_id)
                # FAILED batches too: an admin may have retried one of their jobs.
                if batch.status in (BatchStatus.PENDING, BatchStatus.PROCESSING, BatchStatus.FAILED):
                    self.view.add_batch(batch)
                    self.view.set_batch_status(batch.id, batch.status)
                    for job in self.store.get_many(batch.job_uuids).values():
                        self.view.track(job)
                        if job.status is JobStatus.PROCESSING:
                            self.unaccounted.add((job.id, job.attempts))
            position = records[-1].position
        effects = Effects()
        for batch_id in list(self.view.batches):
            effects.merge(self._react(self.store.get_many(self.view.jobs_of(batch_id)).values()))
            self._forget_if_settled(batch_id)
        log.info("view_rebuilt", batches=len(self.view.batches), jobs=len(self.view.jobs))
        return effects

    # -- reactions ---------------------------------------------------------------

    def jobs_changed(self, heard: list[EventHeading]) -> Effects:
        """Jobs changed elsewhere: a worker's outcomes, as their event messages name them.

        A completion that nothing waits for only moves the tally, with no store
        round trip; anything else is loaded and followed up.
        """
        to_load: list[UUID] = []
        touched: set[UUID] = set()
        for event in heard:
            job_uuid = event.aggregate_id
            entry = self.view.jobs.get(job_uuid)
            if entry is None:
                continue
            if event.event_class is JobCompleted and not self.view.dependents_of(job_uuid):
                self.view.observe_completion(job_uuid, event.aggregate_version)
                touched.add(entry.batch_id)
            else:
                to_load.append(job_uuid)
        effects = self._react(self.store.get_many(to_load).values()) if to_load else Effects()
        now = self.clock()
        for batch_id in touched:
            self._maybe_start_reporting(batch_id, now)
        return effects

    def retry_due(self, job_uuid: UUID) -> Effects:
        """A job's retry backoff has run out: dispatch it if it is still waiting."""
        if job_uuid not in self.view.jobs:
            return Effects()
        return self._react(self.store.get_many([job_uuid]).values())

    # -- recovery ----------------------------------------------------------------

    def running(self, claims: list[tuple[UUID, int]]) -> dict[tuple[UUID, int], Job]:
        """Of these (job, attempt) claims, the ones the store still shows as running."""
        jobs = self.store.get_many({job_uuid for job_uuid, _ in claims})
        return {
            (job_uuid, attempt): jobs[job_uuid]
            for job_uuid, attempt in claims
            if job_uuid in jobs and jobs[job_uuid].status is JobStatus.PROCESSING and jobs[job_uuid].attempts == attempt
        }

    def recover(self, lost: list[Job], stuck: list[tuple[Job, float]]) -> Effects:
        """Fence off attempts whose worker died or went silent; the reactions re-run them.

        The jobs were loaded before their locks were checked, so an outcome recorded
        in between makes that job's append conflict, and it is left alone.
        """
        effects = Effects()
        for job in lost:
            effects.merge(self._fence(job, "job_orphaned", lambda j, now: j.lose_worker(j.attempts, now)))
        for job, silent in stuck:
            effects.merge(
                self._fence(job, "job_stuck", lambda j, now, s=silent: j.flag_stuck(j.attempts, s, now), silent)
            )
        return effects

    def _fence(self, job: Job, what: str, fence: Callable[[Job, datetime], None], silent: float = 0.0) -> Effects:
        fence(job, self.clock())
        try:
            effects = self._react_once([job])
        except ConflictError:
            return Effects()  # it recorded an outcome after all
        log.warning(
            what,
            job_uuid=str(job.id),
            batch_id=str(job.batch_id),
            worker_id=job.worker_id,
            attempt=job.attempts,
            silent_seconds=round(silent, 1),
            trace_id=job.trace_id,
        )
        return effects

    def _react(self, jobs: Iterable[Job]) -> Effects:
        """Bring everything that follows from these jobs' states about, saving first."""
        for _ in range(SAVE_ATTEMPTS):
            try:
                return self._react_once(list(jobs))
            except ConflictError:
                jobs = self.store.get_many(j.id for j in jobs).values()
        raise ConflictError("reaction kept conflicting")

    def _react_once(self, jobs: list[Job]) -> Effects:
        now = self.clock()
        known: dict[UUID, Job] = {j.id: j for j in jobs}
        effects = Effects()
        work = list(jobs)
        decided: set[tuple[UUID, int]] = set()  # a job reached twice in one state is decided once
        while work:
            job = work.pop()
            if (job.id, job.version) not in decided:
                decided.add((job.id, job.version))
                work.extend(self._next_steps(job, known, now, effects))
        changed = [j for j in known.values() if j.pending_events]
        self.store.save(*changed)
        for job in known.values():  # only saved state enters the view
            self.view.track(job)
        batches = {j.batch_id for j in known.values()}
        for batch_id in batches:
            self._maybe_start_reporting(batch_id, now)
        return effects

    def _next_steps(self, job: Job, known: dict[UUID, Job], now: datetime, effects: Effects) -> list[Job]:
        """Carry out the step `domain.progression` decides; the jobs it changed or released."""
        step = next_step(self._situation(job, known), now)
        if step is Step.DISPATCH:
            effects.dispatch.append(Dispatch(job.id, job.batch_id, job.pool))
        elif step is Step.WAKE_LATER:
            effects.timers.append((job.id, job.not_before))  # type: ignore[arg-type]
        elif step is Step.CANCEL:
            job.cancel("batch deleted", now)
            return [job]
        elif step is Step.RETRY_AUTOMATICALLY:
            job.retry_automatically(self.backoff.not_before(now, job.attempts_spent, self.draw()), now)
            return [job]
        elif step is Step.ABANDON:
            job.abandon(now)
            return [job]
        elif step is Step.CANCEL_DEPENDENTS:
            return self._cancel_dependents(job, known, now)
        elif step is Step.RELEASE_DEPENDENTS:
            return self._load([d for d in self.view.dependents_of(job.id) if self._pending(d, known)], known)
        return []

    def _situation(self, job: Job, known: dict[UUID, Job]) -> Situation:
        waiting = job.status is JobStatus.PENDING
        return Situation(
            status=job.status,
            done=job.done,
            batch_deleted=waiting and self._batch_deleted(job),
            ready=waiting and self._ready(job, known),
            not_before=job.not_before,
            may_retry_automatically=job.may_retry_automatically,
            max_attempts=job.max_attempts,
        )

    def _pending(self, job_uuid: UUID, known: dict[UUID, Job] | None = None) -> bool:
        if known and job_uuid in known:
            return known[job_uuid].status is JobStatus.PENDING
        return self.view.status_of(job_uuid) is JobStatus.PENDING

    def _ready(self, job: Job, known: dict[UUID, Job]) -> bool:
        def done(dep: UUID) -> bool:
            return known[dep].done if dep in known else self.view.done(dep)

        return is_ready(job.depends_on, done)

    def _batch_deleted(self, job: Job) -> bool:
        entry = self.view.batches.get(job.batch_id)
        return entry is not None and entry.status is BatchStatus.DELETED

    def _cancel_dependents(self, job: Job, known: dict[UUID, Job], now: datetime) -> list[Job]:
        waiting = [d for d in transitive_dependents(job.id, self.view.dependents_of) if self._pending(d, known)]
        cancelled = []
        for dependent in self._load(waiting, known):
            if dependent.status is JobStatus.PENDING:
                dependent.cancel(f"dependency {job.id} is {job.status.value}", now, cause_job_uuid=job.id)
                cancelled.append(dependent)
        return cancelled

    def _load(self, job_uuids: list[UUID], known: dict[UUID, Job]) -> list[Job]:
        missing = [j for j in job_uuids if j not in known]
        known.update(self.store.get_many(missing))
        return [known[j] for j in job_uuids if j in known]

    def _maybe_start_reporting(self, batch_id: UUID, now: datetime) -> None:
        entry = self.view.batches.get(batch_id)
        if entry is None:
            return
        if entry.status is BatchStatus.PROCESSING and entry.tally.all_settled:
            batch: Batch = self.store.get(batch_id, "batch")
            if batch.status is BatchStatus.PROCESSING:
                batch.start_reporting(entry.tally, now, self.view.not_completed(batch_id))
                self.store.save(batch)  # logged with the append, as every event is
            entry.status = batch.status
        self._forget_if_settled(batch_id)

    def _forget_if_settled(self, batch_id: UUID) -> None:
        """Nothing is left to dispatch or follow: keep memory bounded by live work only."""
        entry = self.view.batches.get(batch_id)
        if entry is not None and entry.status is not BatchStatus.PROCESSING and entry.tally.all_settled:
            self.view.forget_batch(batch_id)


BATCH_SUBMITTED_TOPICS = ("batchq:BatchSubmitted",)

__all__ = ["Dispatch", "Dispatcher", "DomainError", "Effects"]
