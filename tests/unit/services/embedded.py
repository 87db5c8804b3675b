"""The services' use cases on the embedded adapter (SQLite store), with no server at all.

`Engine` holds one dispatcher application on a fresh SQLite store, a fixed clock
that tests move by hand, and plays the worker's part (claim, complete, fail) the
way the worker records it, so a test reads: given a submission, when a job
fails, then these events and effects.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from contracts.envelope import EventHeading
from domain.job import Job, JobError
from domain.retry import BackoffPolicy
from domain.submission import BatchDraft
from services.adapters.store import EventStore, Recorded
from services.dispatcher.application import Dispatcher, Effects
from services.dispatcher.view import DispatchView
from tests.unit.domain.builders import T0, draft

HANDLER_ERROR = JobError("E42", "the handler gave up", "Traceback …", "execution")
OPERATOR = "root"  # made the first operator, as `batchq migrate` makes the user that runs it


class Engine:
    def __init__(self, folder: Path) -> None:
        self.store = EventStore.sqlite(folder / "store.sqlite")
        self.store.ensure_first_operator(OPERATOR, T0)
        self.now = T0
        self.app = Dispatcher(self.store, DispatchView(), lambda: self.now, lambda: 0.5, BackoffPolicy(1.0, 300.0))
        self.started = self.app.rebuild()  # what start-up found left undone
        self.heard: list[EventHeading] = []

    def restart(self) -> Effects:
        """A new dispatcher process on the same store: its view rebuilt from the events."""
        self.app = Dispatcher(self.store, DispatchView(), lambda: self.now, lambda: 0.5, BackoffPolicy(1.0, 300.0))
        return self.app.rebuild()

    def later(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    # -- given ---------------------------------------------------------------------

    def submit(self, batch: BatchDraft | None = None, **jobs: Any) -> Effects:
        return self.app.submit(batch or draft(jobs.get("jobs", [])))

    # -- the worker's part, recorded as the worker records it ---------------------

    def job(self, job_uuid: UUID) -> Job:
        job: Job = self.store.get(job_uuid, "job")
        return job

    def run(self, job_uuid: UUID, *, error: JobError | None = None) -> None:
        """Claim the job, then complete or fail its attempt; the dispatcher hears of it."""
        job = self.job(job_uuid)
        job.start("worker-1", self.later(1))
        self._hear(self.store.save(job))
        if error is None:
            job.complete(job.attempts, {"ok": True}, self.later(1))
        else:
            job.fail(job.attempts, error, self.later(1))
        self._hear(self.store.save(job))

    def _hear(self, recorded: Iterable[Recorded]) -> None:
        self.heard.extend(heading(r) for r in recorded)

    def react(self) -> Effects:
        """The dispatcher hears the outcome messages recorded so far, as from the relay."""
        heard, self.heard = [h for h in self.heard if h.type != "JobStarted"], []
        return self.app.jobs_changed(heard)

    # -- then ----------------------------------------------------------------------

    def events(self, aggregate_id: UUID) -> list[str]:
        return [type(r.event).__name__ for r in self.store.history([aggregate_id])]

    def status(self, aggregate_id: UUID) -> str:
        return str(self.store.get(aggregate_id).status.value)


def heading(recorded: Recorded) -> EventHeading:
    event = recorded.event
    return EventHeading(
        type=type(event).__name__,
        aggregate_id=event.originator_id,
        aggregate_version=event.originator_version,
        position=recorded.position,
        batch_id=getattr(event, "batch_id", None),
    )


def dispatched(effects: Effects) -> list[UUID]:
    return [d.job_uuid for d in effects.dispatch]
