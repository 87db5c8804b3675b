"""Intake: a submission becomes a batch and its jobs in one append, or is refused with its code.

A part of `Dispatcher`. The same batch again is a no-op answered `duplicate`;
other content under a known id is DUPLICATE_BATCH; a job id that exists anywhere
is DUPLICATE_JOB. Item claims race other batches, so a conflict looks again.
"""

from __future__ import annotations

from uuid import UUID

from domain.batch import Batch
from domain.canary import CANARY_ID, Canary, pool_for
from domain.errors import DuplicateBatchError, DuplicateJobError
from domain.item import Item
from domain.quotas import QUOTAS_ID, Limits, Quotas, Request, Scope, check_submission
from domain.submission import BatchDraft, ItemOwner, NewBatch, create_batch, item_ids, retention_of
from services.adapters.logging import get_logger
from services.adapters.store import ConflictError
from services.dispatcher.effects import SAVE_ATTEMPTS, Effects
from services.dispatcher.parts import Part

log = get_logger("batchq.dispatcher")


class Intake(Part):
    def submit(self, draft: BatchDraft) -> Effects:
        for _ in range(SAVE_ATTEMPTS):
            existing = self.store.get_many([draft.batch_id]).get(draft.batch_id)
            if existing is not None:
                return self._resubmitted(existing, draft)
            self._check_quotas(draft)
            owners = self._item_owners(draft)
            new = create_batch(draft, owners, self.clock(), self._pools(draft))
            try:
                self.store.save(*new.aggregates())
            except ConflictError:
                self._explain_conflict(draft)
                continue  # an item claim raced another batch: look at the owners again
            return self._accepted(new)
        raise ConflictError(f"batch {draft.batch_id} kept conflicting")

    def _pools(self, draft: BatchDraft) -> dict[UUID, str] | None:
        """Where each job goes while a canary stage runs (`domain.canary.pool_for`); None: all to default."""
        canary: Canary | None = self.store.get_many([CANARY_ID]).get(CANARY_ID)
        if canary is None or canary.stage is None:
            return None
        return {j.job_uuid: pool_for(j.job_uuid, draft.tenant, canary.stage) for j in draft.jobs}

    def _check_quotas(self, draft: BatchDraft) -> None:
        """QUOTA_EXCEEDED before anything is stored. Exact under any concurrency: the one active
        dispatcher checks and appends each submission in turn, on its one thread."""
        quotas: Quotas | None = self.store.get_many([QUOTAS_ID]).get(QUOTAS_ID)
        if quotas is None:
            return
        request = Request(len(draft.jobs), retention_of(draft.tags))
        today = self.clock().date()
        for scope, subject in ((Scope.TENANT, draft.tenant), (Scope.USER, draft.user_id)):
            limits = quotas.of(scope, subject)
            if limits != Limits():
                check_submission(scope, subject, limits, self.view.usage(scope, subject, today), request)

    def _item_owners(self, draft: BatchDraft) -> dict[UUID, ItemOwner]:
        items: dict[UUID, Item] = self.store.get_many(item_ids(draft))
        owner_jobs = self.store.get_many(item.owner for item in items.values())
        return {
            item_id: ItemOwner(item.owner, owner_jobs[item.owner].status.value, item)
            for item_id, item in items.items()
            if item.owner in owner_jobs
        }

    def _explain_conflict(self, draft: BatchDraft) -> None:
        """Turn a failed append into DUPLICATE_BATCH / DUPLICATE_JOB when that is what it was."""
        if self.store.get_many([draft.batch_id]):
            return  # the loop sees the batch now and answers as a resubmission
        taken = self.store.get_many(j.job_uuid for j in draft.jobs)
        if taken:
            raise DuplicateJobError(min(taken, key=str))

    def _resubmitted(self, batch: Batch, draft: BatchDraft) -> Effects:
        if batch.fingerprint != draft.fingerprint:
            raise DuplicateBatchError(draft.batch_id)
        # The same batch again: a no-op, except that dispatch may have been cut short.
        effects = Effects(result={"batch_id": str(batch.id), "jobs": len(batch.job_uuids), "duplicate": True})
        if batch.id in self.view.batches:
            effects.merge(self._react(self.store.get_many(batch.job_uuids).values()))
        return effects

    def _accepted(self, new: NewBatch) -> Effects:
        self.view.add_batch(new.batch)
        self.view.count_submission(new.batch.tenant, new.batch.user_id, self.clock().date())
        self.view.set_batch_status(new.batch.id, new.batch.status)
        for job in new.jobs:
            self.view.track(job)
        effects = self._react(new.jobs)
        effects.result = {"batch_id": str(new.batch.id), "jobs": len(new.jobs), "duplicate": False}
        log.info(
            "batch_accepted",
            batch_id=str(new.batch.id),
            jobs=len(new.jobs),
            tenant=new.batch.tenant,
            subject_ref=self.store.sealer.subject_ref(new.batch.tenant, new.batch.user_id),
            trace_id=new.batch.trace_id,
        )
        return effects
