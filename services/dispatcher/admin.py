"""The admin commands of the dispatcher: retry, cancel, delete, update-reporting, pause, resume.

A part of `Dispatcher`: each command loads what it acts on, lets the domain
decide (an illegal one raises, and is answered with its code), saves, and lets
the reactions follow through like any other change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.commands import (
    AbortCanary,
    CancelJob,
    DeleteBatch,
    EraseDepositor,
    GrantRole,
    PauseQueue,
    PromoteCanary,
    ResumeQueue,
    RetryJob,
    RevokeRole,
    SetQuota,
    StartCanary,
    UpdateReporting,
)
from domain.access import Action
from domain.batch import REPORTING_STATES, Batch
from domain.dependencies import transitive_dependents
from domain.errors import IllegalTransitionError
from domain.item import Item
from domain.job import Job
from domain.queue import QUEUE_ID, Queue, create_queue
from domain.states import SETTLED_JOB_STATES, BatchStatus, JobStatus
from services.adapters.store import NotFoundError
from services.dispatcher.canary import CanaryCommands
from services.dispatcher.effects import Effects, provenance
from services.dispatcher.erasure import ErasureCommands
from services.dispatcher.grants import GrantCommands
from services.dispatcher.parts import Part
from services.dispatcher.quotas import QuotaCommands


class AdminCommands(Part):
    def retry_job(self, command: RetryJob, requested_by: str | None) -> Effects:
        job_uuid, override, reason = command.job_uuid, command.override, command.reason
        job: Job = self.store.get(job_uuid, "job")
        self.authorize_on(requested_by, Action.RETRY_JOB, "job", job_uuid, job.tenant)
        batch: Batch = self.store.get(job.batch_id, "batch")
        if batch.status in REPORTING_STATES:
            # The report being written describes this job: retry once it has gone out.
            raise IllegalTransitionError(
                "batch", batch.id, batch.status.value, f"retry job {job_uuid}", "wait until the report has gone out"
            )
        self._ensure_tracked(job)
        job.retry(str(requested_by), reason, override, self.clock())
        if job.item and override:
            from domain.item import item_id

            item: Item = self.store.get(item_id(job.tenant, job.item), "item")
            item.reclaim(job.id, self.clock())
            self.store.save(item)
        effects = self._react([job])
        effects.result = {"job_uuid": str(job_uuid), "status": self.view.status_of(job_uuid).value}
        effects.provenance = provenance(job)
        return effects

    def cancel_job(self, command: CancelJob, requested_by: str | None) -> Effects:
        job_uuid = command.job_uuid
        job: Job = self.store.get(job_uuid, "job")
        self.authorize_on(requested_by, Action.CANCEL_JOB, "job", job_uuid, job.tenant)
        self._ensure_tracked(job)
        job.cancel(f"cancelled by {requested_by}", self.clock())
        # Asked before reacting: a batch whose every job settles here leaves the view.
        dependents = transitive_dependents(job_uuid, self.view.dependents_of)
        effects = self._react([job])
        now_cancelled = {j for j, d in self.store.get_many(dependents).items() if d.status is JobStatus.CANCELLED}
        cancelled = [j for j in dependents if j in now_cancelled]
        effects.result = {
            "job_uuid": str(job_uuid),
            "status": "CANCELLED",
            "cancelled_dependents": [str(j) for j in cancelled],
        }
        effects.provenance = provenance(job)
        return effects

    def delete_batch(self, command: DeleteBatch, requested_by: str | None) -> Effects:
        batch_id = command.batch_id
        batch: Batch = self.store.get(batch_id, "batch")
        self.authorize_on(requested_by, Action.DELETE_BATCH, "batch", batch_id, batch.tenant)
        batch.delete(str(requested_by), "", self.clock())
        self.store.save(batch)
        self.view.set_batch_status(batch_id, BatchStatus.DELETED)
        pending = [j for j in batch.job_uuids if j in self.view.jobs and self._pending(j)]
        effects = self._react(self.store.get_many(pending).values()) if pending else Effects()
        effects.result = {"batch_id": str(batch_id), "status": "DELETED", "cancelled_jobs": len(pending)}
        effects.provenance = provenance(batch)
        return effects

    def update_reporting(self, command: UpdateReporting, requested_by: str | None) -> Effects:
        batch_id = command.batch_id
        batch: Batch = self.store.get(batch_id, "batch")
        self.authorize_on(requested_by, Action.UPDATE_REPORTING, "batch", batch_id, batch.tenant)
        # From the store, not the view: the view hears an outcome a moment after it is
        # recorded, and an admin who has just seen the job settle must not be refused.
        jobs = self.store.get_many(batch.job_uuids).values()
        unsettled = sum(1 for job in jobs if job.status not in SETTLED_JOB_STATES)
        batch.request_update_reporting(str(requested_by), "", unsettled, self.clock())
        self.store.save(batch)
        self.view.set_batch_status(batch_id, batch.status)
        return Effects(result={"batch_id": str(batch_id), "status": batch.status.value}, provenance=provenance(batch))

    def pause_queue(self, command: PauseQueue, requested_by: str | None) -> Effects:
        self.authorize(requested_by, Action.PAUSE_QUEUE)
        queue = self._queue()
        queue.pause(str(requested_by), command.reason or "", self.clock())
        self.store.save(queue)
        return Effects(result={"paused": True}, provenance=provenance(queue))

    def resume_queue(self, command: ResumeQueue, requested_by: str | None) -> Effects:
        self.authorize(requested_by, Action.RESUME_QUEUE)
        queue = self._queue()
        queue.resume(str(requested_by), command.reason or "", self.clock())
        self.store.save(queue)
        return Effects(result={"paused": False}, provenance=provenance(queue))

    def _queue(self) -> Queue:
        try:
            return self.store.get(QUEUE_ID, "queue")  # type: ignore[no-any-return]
        except NotFoundError:
            return create_queue(self.clock())

    def _ensure_tracked(self, job: Job) -> None:
        """A job of a batch the view let go of (finished): take it back in."""
        if job.id not in self.view.jobs:
            batch: Batch = self.store.get(job.batch_id, "batch")
            self.view.add_batch(batch)
            self.view.set_batch_status(batch.id, batch.status)
            for member in self.store.get_many(batch.job_uuids).values():
                self.view.track(member)


# The use case of each command, by the contract's message class.
COMMAND_HANDLERS: dict[type, Callable[[Any, Any, str], Effects]] = {
    RetryJob: AdminCommands.retry_job,
    CancelJob: AdminCommands.cancel_job,
    DeleteBatch: AdminCommands.delete_batch,
    UpdateReporting: AdminCommands.update_reporting,
    PauseQueue: AdminCommands.pause_queue,
    ResumeQueue: AdminCommands.resume_queue,
    GrantRole: GrantCommands.grant_role,
    RevokeRole: GrantCommands.revoke_role,
    SetQuota: QuotaCommands.set_quota,
    StartCanary: CanaryCommands.start_canary,
    PromoteCanary: CanaryCommands.promote_canary,
    AbortCanary: CanaryCommands.abort_canary,
    EraseDepositor: ErasureCommands.erase_depositor,
}
