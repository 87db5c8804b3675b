"""What the parts of `Dispatcher` (intake, admin commands, grants) share: its state, its reactions, access."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from uuid import UUID

from domain.access import ACCESS_ID, AccessGrants, Action, Grant, allows, decide
from domain.errors import NotFoundError
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

    def grants(self) -> frozenset[Grant]:
        """Every grant as the store holds it now: one read, so a revocation counts from the next message."""
        access: AccessGrants | None = self.store.get_many([ACCESS_ID]).get(ACCESS_ID)
        return access.grants if access is not None else frozenset()

    def authorize(self, principal: str | None, action: Action, tenant: str | None = None) -> None:
        """Raise FORBIDDEN unless the principal may take this action (for this tenant)."""
        decide(self.grants(), principal, action, tenant)

    def authorize_on(self, principal: str | None, action: Action, kind: str, aggregate_id: UUID, tenant: str) -> None:
        """As `authorize`, on one tenant's batch or job: to whoever may not even read that
        tenant it does not exist (NOT_FOUND, word for word as for a missing one). A message
        with no principal at all is FORBIDDEN, whatever it names."""
        grants = self.grants()
        may_see = allows(grants, principal, Action.READ, tenant) or allows(grants, principal, action, tenant)
        if principal is not None and not may_see:
            raise NotFoundError(kind, aggregate_id)
        decide(grants, principal, action, tenant)
