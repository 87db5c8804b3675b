"""The demo's eyes: every stored event, in store order, folded into batches and jobs.

States are read back the way an auditor would, so no state is missed however
fast it passes; each change of a watched batch or job is shown as it is seen.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from domain.base import fold
from services.adapters.store import EventStore
from services.cli.demo.case import Case
from services.cli.demo.display import Display
from services.reporter.rendering import error_text

CASE_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.02


class TimedOutError(Exception):
    """A use case waited too long for a state: names what it waited for."""


class Watcher:
    """Folds every stored event, in store order, into batches and jobs, and reports changes."""

    def __init__(self, store: EventStore, display: Display) -> None:
        self.store = store
        self.display = display
        self.position = 0
        self.aggregates: dict[uuid.UUID, Any] = {}
        self.cases: dict[uuid.UUID, tuple[Case, int | None]] = {}  # id -> (case, job index)
        self.changed = asyncio.Condition()

    def watch(self, case: Case) -> None:
        self.cases[case.batch_id] = (case, None)
        for index, job_uuid in enumerate(case.job_uuids):
            self.cases[job_uuid] = (case, index)

    async def run(self) -> None:
        while True:
            records = await asyncio.to_thread(self.store.read, self.position, 1000)
            for record in records:
                self._fold(record.event)
                self.position = record.position
            if records:
                async with self.changed:
                    self.changed.notify_all()
            await asyncio.sleep(POLL_SECONDS)

    def _fold(self, event: Any) -> None:
        aggregate = fold([event], into=self.aggregates)[event.originator_id]
        if event.originator_id not in self.cases:
            return
        case, index = self.cases[event.originator_id]
        status = aggregate.status.value
        if index is None:
            if status != case.status:
                case.status = status
                case.history.append(status)
                case.timeline.append(status)
                self.display.change(case, "batch", status)
            return
        job_uuid = case.job_uuids[index]
        case.attempts[job_uuid] = aggregate.attempts
        if status != case.jobs.get(job_uuid):
            case.jobs[job_uuid] = status
            case.seen.append((index, status, case.status))
            error = aggregate.error if status == "FAILED" else None
            note = error_text(error) if error else ""
            self.display.change(case, f"job {index + 1}", status, note)

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(CASE_TIMEOUT_SECONDS), self.changed:
                await self.changed.wait_for(predicate)
        except TimeoutError:
            raise TimedOutError(what) from None
