"""What the parts of `Dispatcher` (intake, admin commands) share: its state and its reactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from uuid import UUID

from domain.job import Job
from services.adapters.store import EventStore
from services.dispatcher.effects import Effects
from services.dispatcher.view import DispatchView


class Part:
    store: EventStore
    view: DispatchView
    clock: Callable[[], datetime]

    def _react(self, jobs: Iterable[Job]) -> Effects:
        """Bring about everything that follows from these jobs' states (the Dispatcher's reactions)."""
        raise NotImplementedError

    def _pending(self, job_uuid: UUID) -> bool:
        raise NotImplementedError
