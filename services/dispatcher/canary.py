"""The canary stage's commands (CONTRACT v1.1, upgrades): start, promote, abort. Routing is intake's.

A part of `Dispatcher`. Aborting sends every waiting canary job back to
`default` (`JobRerouted`) and dispatches it there; a copy of its message left in
the canary queue finds it claimed or rerouted and is dropped by the worker.
"""

from __future__ import annotations

from uuid import UUID

from contracts.commands import AbortCanary, PromoteCanary, StartCanary
from domain.access import Action
from domain.canary import CANARY_ID, CANARY_POOL, DEFAULT_POOL, Canary, create_canary
from domain.job import Job
from domain.states import JobStatus
from services.dispatcher.effects import Effects
from services.dispatcher.parts import Part

NO_PROVENANCE = {"batch_id": "-", "tenant": "-", "user_id": "-", "trace_id": "-"}


class CanaryCommands(Part):
    def start_canary(self, command: StartCanary, requested_by: str | None) -> Effects:
        self.authorize(requested_by, Action.CANARY)
        canary = self._canary()
        canary.start(command.percent, command.tenant, str(requested_by), command.reason, self.clock())
        self.store.save(canary)
        result = {"canary": "started", "percent": command.percent, "tenant": command.tenant or "*"}
        return Effects(result=result, provenance=NO_PROVENANCE)

    def promote_canary(self, command: PromoteCanary, requested_by: str | None) -> Effects:
        self.authorize(requested_by, Action.CANARY)
        canary = self._canary()
        canary.promote(str(requested_by), command.reason, self.clock())
        self.store.save(canary)
        return Effects(result={"canary": "promoted"}, provenance=NO_PROVENANCE)

    def abort_canary(self, command: AbortCanary, requested_by: str | None) -> Effects:
        self.authorize(requested_by, Action.CANARY)
        canary = self._canary()
        canary.abort(str(requested_by), command.reason, self.clock())
        self.store.save(canary)
        waiting = [j for j, e in self.view.jobs.items() if e.pool == CANARY_POOL and e.status is JobStatus.PENDING]
        rerouted = self._reroute(waiting, f"canary aborted by {requested_by}")
        effects = self._react(rerouted)
        effects.result = {"canary": "aborted", "rerouted_jobs": len(rerouted)}
        effects.provenance = NO_PROVENANCE
        return effects

    def _reroute(self, job_uuids: list[UUID], reason: str) -> list[Job]:
        jobs = [j for j in self.store.get_many(job_uuids).values() if j.status is JobStatus.PENDING]
        for job in jobs:
            job.reroute(DEFAULT_POOL, reason, self.clock())
        self.store.save(*jobs)
        return jobs

    def _canary(self) -> Canary:
        canary: Canary | None = self.store.get_many([CANARY_ID]).get(CANARY_ID)
        return canary or create_canary(self.clock())
