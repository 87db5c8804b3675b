"""A canary stage for a new worker version (QUEUE-013): a share of new jobs goes to the pool `canary`.

One `Canary` aggregate per installation records each stage's start (share,
optional tenant, who and why), its promotion or its abort. `pool_for` is the
routing policy, a pure function of the job's id: the same job always lands in
the same pool, whichever dispatcher asks and however often.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from domain.base import BatchqAggregate, BatchqCreated, BatchqEvent, pinned
from domain.errors import DomainError, IllegalTransitionError

CANARY_ID = uuid5(UUID("6b0d3d4e-5c7a-4f37-9d1e-0b7f0c1a2e3d"), "batchq.canary")
SYSTEM_TENANT = "batchq"
DEFAULT_POOL, CANARY_POOL = "default", "canary"
BUCKETS = 10_000  # shares in steps of 0.01 %


@dataclass(frozen=True)
class Stage:
    """A canary in progress: `percent` of the new jobs (of one tenant, or all) go to the canary pool."""

    percent: float
    tenant: str | None = None
    started_at: datetime | None = None


def pool_for(job_uuid: UUID, tenant: str, stage: Stage | None) -> str:
    """The pool a new job goes to: stable by `job_uuid` (uniform: UUIDs are random)."""
    if stage is None or (stage.tenant is not None and stage.tenant != tenant):
        return DEFAULT_POOL
    return CANARY_POOL if job_uuid.int % BUCKETS < stage.percent * BUCKETS / 100 else DEFAULT_POOL


@pinned
class CanaryCreated(BatchqCreated):
    def apply(self, canary: Canary) -> None:
        super().apply(canary)
        canary.stage = None


@pinned
class CanaryStarted(BatchqEvent):
    percent: float
    canary_tenant: str | None
    requested_by: str
    reason: str = ""

    def apply(self, canary: Canary) -> None:
        canary.stage = Stage(self.percent, self.canary_tenant, self.timestamp)


@pinned
class CanaryPromoted(BatchqEvent):
    requested_by: str
    reason: str = ""

    def apply(self, canary: Canary) -> None:
        canary.stage = None


@pinned
class CanaryAborted(BatchqEvent):
    requested_by: str
    reason: str = ""

    def apply(self, canary: Canary) -> None:
        canary.stage = None


class Canary(BatchqAggregate):
    if TYPE_CHECKING:
        stage: Stage | None

    def start(self, percent: float, tenant: str | None, requested_by: str, reason: str, now: datetime) -> None:
        if self.stage is not None:
            raise IllegalTransitionError("canary", self.id, "RUNNING", "start", "promote or abort the one running")
        if not 0 < percent <= 100:
            raise DomainError(f"a canary's share is more than 0 and at most 100 percent, not {percent}")
        self._record(
            CanaryStarted, now, percent=percent, canary_tenant=tenant, requested_by=requested_by, reason=reason
        )

    def promote(self, requested_by: str, reason: str, now: datetime) -> None:
        self._require_running("promote")
        self._record(CanaryPromoted, now, requested_by=requested_by, reason=reason)

    def abort(self, requested_by: str, reason: str, now: datetime) -> None:
        self._require_running("abort")
        self._record(CanaryAborted, now, requested_by=requested_by, reason=reason)

    def _require_running(self, action: str) -> None:
        if self.stage is None:
            raise IllegalTransitionError("canary", self.id, "NONE", action, "no canary is running")


def create_canary(now: datetime) -> Canary:
    return Canary._begin(
        CanaryCreated, CANARY_ID, now, tenant=SYSTEM_TENANT, user_id=SYSTEM_TENANT, trace_id="", batch_id=None
    )
