"""Intake: a submission becomes a batch and its jobs, appended in parts, or is refused with its code.

A part of `Dispatcher`. Everything that can refuse a submission (quotas, a job id
that exists anywhere, the dependency graph) is decided before anything is stored.
Then the batch and its first jobs are appended, handed to `on_part` for dispatch,
and the rest follow in growing parts: the first jobs of a 100,000-job batch run
while the later ones are still being appended. The submission is acknowledged
only after the last part; a crash before that redelivers it, and the same batch
again makes whatever parts are missing (`_resubmitted`), so every job the batch
names comes to exist, and it cannot be reported before they all have. Other
content under a known id is DUPLICATE_BATCH. Item claims race other batches, so a
conflict looks again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.batch import Batch
from domain.canary import CANARY_ID, Canary, pool_for
from domain.errors import DuplicateBatchError, DuplicateJobError
from domain.item import Item
from domain.job import Job
from domain.quotas import QUOTAS_ID, Limits, Quotas, Request, Scope, check_submission
from domain.states import BatchStatus
from domain.submission import (
    BatchDraft,
    ItemOwner,
    growing_parts,
    item_ids,
    jobs_in_parts,
    open_batch,
    retention_of,
)
from services.adapters.logging import get_logger
from services.adapters.store import ConflictError
from services.dispatcher.effects import SAVE_ATTEMPTS, Effects
from services.dispatcher.job_id_lookup import JobIdLookup, JobIdLookups, JobsStored
from services.dispatcher.parts import Part

log = get_logger("batchq.dispatcher")

OnPart = Callable[[Effects], object]


class Intake(Part):
    jobs_stored: JobsStored
    lookups: JobIdLookups

    def look_up_job_ids(self, job_uuids: list[UUID]) -> JobIdLookup:
        """Start asking which of a submission's job ids exist, for its `submit` (see `job_id_lookup`)."""
        return self.lookups.ask(job_uuids)

    def submit(self, draft: BatchDraft, on_part: OnPart | None = None, lookup: JobIdLookup | None = None) -> Effects:
        """Take the batch in; each saved part's effects go to `on_part` as soon as it is saved
        (without one, all of them come back with the result). `lookup`: its job ids, asked ahead."""
        effects = Effects()
        emit = on_part or effects.merge
        for _ in range(SAVE_ATTEMPTS):
            existing = self.store.get_many([draft.batch_id]).get(draft.batch_id)
            try:
                if existing is not None:
                    effects.result = self._resubmitted(existing, draft, emit)
                else:
                    effects.result = self._take_in(draft, emit, lookup)
            except ConflictError:
                self._explain_conflict(draft)
                lookup = None  # its answer is out of date: look again
                continue  # an item claim raced another batch, or a part was made meanwhile: look again
            return effects
        raise ConflictError(f"batch {draft.batch_id} kept conflicting")

    def _take_in(self, draft: BatchDraft, emit: OnPart, lookup: JobIdLookup | None) -> dict[str, Any]:
        self._check_quotas(draft)
        self._check_new_jobs(draft, lookup)
        now, owners, pools = self.clock(), self._item_owners(draft), self._pools(draft)
        batch = open_batch(draft, now)
        for aggregates, jobs in jobs_in_parts(draft, draft.jobs, owners, now, pools, growing_parts()):
            admitted = bool(batch.pending_events)
            self.store.save(batch, *aggregates)  # the batch's own events go with the first part only
            self.jobs_stored.saved()
            if admitted:
                self._admit(batch)
            emit(self._take_jobs(jobs))
        log.info(
            "batch_accepted",
            batch_id=str(batch.id),
            jobs=len(draft.jobs),
            tenant=batch.tenant,
            subject_ref=self.store.sealer.subject_ref(batch.tenant, batch.user_id),
            trace_id=batch.trace_id,
        )
        return {"batch_id": str(batch.id), "jobs": len(draft.jobs), "duplicate": False}

    def _admit(self, batch: Batch) -> None:
        """The batch is stored: the view follows it from now on (only saved state enters the view)."""
        self.view.add_batch(batch)
        self.view.count_submission(batch.tenant, batch.user_id, self.clock().date())
        self.view.set_batch_status(batch.id, batch.status)

    def _take_jobs(self, jobs: list[Job]) -> Effects:
        for job in jobs:
            self.view.track(job)
        return self._react(jobs)

    def _check_new_jobs(self, draft: BatchDraft, lookup: JobIdLookup | None = None) -> None:
        """DUPLICATE_JOB before the first part is stored: a later part must not find a job taken."""
        if lookup is not None and lookup.still_current(self.jobs_stored):
            taken = lookup.answer.result()
        else:
            taken = self.store.existing(j.job_uuid for j in draft.jobs)
        if taken:
            raise DuplicateJobError(min(taken, key=str))

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
        self._check_new_jobs(draft)

    def _resubmitted(self, batch: Batch, draft: BatchDraft, emit: OnPart) -> dict[str, Any]:
        if batch.fingerprint != draft.fingerprint:
            raise DuplicateBatchError(draft.batch_id)
        # The same batch again: a no-op, except that its intake or its dispatch may have been cut short.
        if batch.id in self.view.batches:
            jobs = self.store.get_many(batch.job_uuids)
            missing = [spec for spec in draft.jobs if spec.job_uuid not in jobs]
            if missing and batch.status is not BatchStatus.DELETED:
                jobs.update(self._resume_intake(batch, draft, missing, emit))
            # Every job again, the new ones included: a failure heard meanwhile cancels their dependents.
            emit(self._react(jobs.values()))
        return {"batch_id": str(batch.id), "jobs": len(batch.job_uuids), "duplicate": True}

    def _resume_intake(self, batch: Batch, draft: BatchDraft, missing: list[Any], emit: OnPart) -> dict[UUID, Job]:
        """Make the jobs a crash kept from being appended, exactly as the first delivery would have."""
        rest = dataclasses.replace(draft, jobs=missing)
        now, owners, pools = self.clock(), self._item_owners(rest), self._pools(rest)
        made: dict[UUID, Job] = {}
        for aggregates, jobs in jobs_in_parts(rest, missing, owners, now, pools, growing_parts()):
            self.store.save(*aggregates)
            self.jobs_stored.saved()
            for job in jobs:
                self.view.track(job)
                made[job.id] = job
        log.warning("intake_resumed", batch_id=str(batch.id), jobs=len(made), trace_id=batch.trace_id)
        return made
