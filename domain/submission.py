"""Turning an accepted manifest into a batch, its jobs and its item claims.

The dispatcher opens the batch (`open_batch`), then makes and appends its jobs in
parts (`jobs_in_parts`), the batch with the first, so that the first jobs run while
later ones are still being made. Everything that can refuse a submission is decided
before the first part is saved; a part cut off by a crash is made by the same
submission delivered again (see `services/dispatcher/intake.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any
from uuid import UUID

from domain.batch import Batch, submit_batch
from domain.dependencies import check_graph
from domain.item import Item, claim_item, item_id
from domain.job import Job, submit_job
from domain.states import JobStatus


@dataclass(frozen=True)
class JobDraft:
    job_uuid: UUID
    handler: str = "noop"
    params: dict[str, Any] = field(default_factory=dict)
    payload_url: str | None = None
    depends_on: list[UUID] = field(default_factory=list)
    max_attempts: int = 1
    item: dict[str, Any] | None = None


@dataclass(frozen=True)
class BatchDraft:
    batch_id: UUID
    tenant: str
    user_id: str
    trace_id: str
    depositor_email: str
    fingerprint: str
    jobs: list[JobDraft]
    tags: dict[str, Any] = field(default_factory=dict)
    pool: str = "default"


@dataclass(frozen=True)
class ItemOwner:
    job_uuid: UUID
    status: str
    item: Item | None = None  # given, a new job can take over an item its owner never ran

    @property
    def never_ran(self) -> bool:
        return self.status == JobStatus.CANCELLED


@dataclass
class NewBatch:
    batch: Batch
    jobs: list[Job]
    items: list[Item]

    def aggregates(self) -> list[Batch | Job | Item]:
        return [self.batch, *self.jobs, *self.items]


def growing_parts(first: int = 256, largest: int = 4096) -> Iterator[int]:
    """Part sizes: small first, so the first jobs start at once; then doubling, for cheaper appends."""
    size = first
    while True:
        yield size
        size = min(size * 2, largest)


def item_ids(draft: BatchDraft) -> list[UUID]:
    """The item aggregates whose owners `create_batch` needs to know."""
    return [item_id(draft.tenant, j.item) for j in draft.jobs if j.item]


def retention_of(tags: Mapping[str, Any]) -> float | None:
    """`tags.retention_days` (days, fractions allowed), or None: kept as long as the store is."""
    days = tags.get("retention_days")
    return float(days) if days is not None else None


def open_batch(draft: BatchDraft, now: datetime) -> Batch:
    """The batch, started, naming every job of the draft (whose dependency graph must hold)."""
    if any(j.depends_on for j in draft.jobs):  # most batches have none: no graph to build
        check_graph({j.job_uuid: j.depends_on for j in draft.jobs})
    batch = submit_batch(
        batch_id=draft.batch_id,
        tenant=draft.tenant,
        user_id=draft.user_id,
        trace_id=draft.trace_id,
        depositor_email=draft.depositor_email,
        job_uuids=[j.job_uuid for j in draft.jobs],
        fingerprint=draft.fingerprint,
        now=now,
        tags=draft.tags,
        pool=draft.pool,
        retention_days=retention_of(draft.tags),
    )
    batch.start(now)
    return batch


def create_batch(
    draft: BatchDraft, owners: Mapping[UUID, ItemOwner], now: datetime, pools: Mapping[UUID, str] | None = None
) -> NewBatch:
    """The batch, its jobs (each in `pools[job_uuid]`, else the draft's pool) and the items they claim."""
    batch = open_batch(draft, now)
    claims: dict[UUID, Item] = {}
    jobs = create_jobs(draft, draft.jobs, owners, now, pools, claims)
    return NewBatch(batch=batch, jobs=jobs, items=list(claims.values()))


def jobs_in_parts(
    draft: BatchDraft,
    specs: Sequence[JobDraft],
    owners: Mapping[UUID, ItemOwner],
    now: datetime,
    pools: Mapping[UUID, str] | None,
    sizes: Iterator[int],
) -> Iterator[tuple[list[Job | Item], list[Job]]]:
    """`create_jobs` a part at a time, each made only when asked for: (what to append, its jobs).
    An item claim comes with the job that claims it; at least one part, if empty."""
    claims: dict[UUID, Item] = {}
    start, first = 0, True
    while first or start < len(specs):
        claimed = len(claims)
        jobs = create_jobs(draft, specs[start : start + next(sizes)], owners, now, pools, claims)
        yield [*jobs, *islice(claims.values(), claimed, None)], jobs
        start, first = start + len(jobs), False


def create_jobs(
    draft: BatchDraft,
    specs: Sequence[JobDraft],
    owners: Mapping[UUID, ItemOwner],
    now: datetime,
    pools: Mapping[UUID, str] | None = None,
    claims: dict[UUID, Item] | None = None,
) -> list[Job]:
    """These jobs of the draft's batch; the items they claim are added to `claims` (by item id),
    which holds the claims of the batch's jobs made before these."""
    provenance = {"tenant": draft.tenant, "user_id": draft.user_id, "trace_id": draft.trace_id}
    claims = {} if claims is None else claims
    jobs: list[Job] = []
    for spec in specs:
        job = submit_job(
            job_uuid=spec.job_uuid,
            batch_id=draft.batch_id,
            now=now,
            handler=spec.handler,
            params=spec.params,
            payload_url=spec.payload_url,
            depends_on=spec.depends_on,
            max_attempts=spec.max_attempts,
            item=spec.item,
            tags=draft.tags,
            pool=(pools or {}).get(spec.job_uuid, draft.pool),
            **provenance,
        )
        if spec.item:
            _claim_or_skip(job, spec, draft, owners, claims, now)
        jobs.append(job)
    return jobs


def _claim_or_skip(
    job: Job,
    spec: JobDraft,
    draft: BatchDraft,
    owners: Mapping[UUID, ItemOwner],
    claims: dict[UUID, Item],
    now: datetime,
) -> None:
    """Item idempotency: the job claims its (target, key, version), or is skipped for the job that owns it."""
    assert spec.item is not None
    key = item_id(draft.tenant, spec.item)
    owner = owners.get(key)
    if key in claims:
        job.skip(claims[key].owner, JobStatus.PENDING, now)
    elif owner is not None and owner.never_ran and owner.item is not None:
        owner.item.reclaim(spec.job_uuid, now)
        claims[key] = owner.item
    elif owner is not None:
        job.skip(owner.job_uuid, owner.status, now)
    else:
        provenance = {"tenant": draft.tenant, "user_id": draft.user_id, "trace_id": draft.trace_id}
        claims[key] = claim_item(batch_id=draft.batch_id, item=spec.item, job_uuid=spec.job_uuid, now=now, **provenance)
