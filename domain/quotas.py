"""How much a tenant or a depositor may have (QUEUE-021): quotas as events, and the one check.

A quota is set per tenant or per depositor (`user_id` of submissions); each
limit left unset is unlimited. `check_submission` is the whole policy, a pure
function of the limits, the current usage and the submission, so it can be
asked under the dispatcher's single order: no two submissions are checked
against the same usage, and no number of concurrent ones passes a limit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from domain.base import BatchqAggregate, BatchqCreated, BatchqEvent, pinned
from domain.errors import DomainError

QUOTAS_ID = uuid5(UUID("6b0d3d4e-5c7a-4f37-9d1e-0b7f0c1a2e3d"), "batchq.quotas")
SYSTEM_TENANT = "batchq"


class Scope(StrEnum):
    TENANT = "tenant"
    USER = "user"


@dataclass(frozen=True)
class Limits:
    max_active_jobs: int | None = None  # PENDING or PROCESSING at once
    max_jobs_per_batch: int | None = None
    max_batches_per_day: int | None = None  # by the UTC day of submission
    max_retention_days: int | None = None  # the longest `tags.retention_days` a submission may ask

    def merged(self, changes: dict[str, int | None]) -> Limits:
        return replace(self, **{k: v for k, v in changes.items() if k in LIMIT_NAMES})

    def as_dict(self) -> dict[str, int | None]:
        return asdict(self)


LIMIT_NAMES = frozenset(f.name for f in fields(Limits))


@dataclass(frozen=True)
class Usage:
    active_jobs: int = 0
    batches_today: int = 0


@dataclass(frozen=True)
class Request:
    """What a submission would add."""

    jobs: int
    retention_days: float | None = None


class QuotaExceededError(DomainError):
    code = "QUOTA_EXCEEDED"

    def __init__(self, scope: Scope, subject: str, quota: str, limit: int, usage: float) -> None:
        super().__init__(f"{scope.value} {subject}: {quota} is {limit}; this submission would make it {usage}")
        self.quota = quota
        self.limit = limit
        self.usage = usage


def check_submission(scope: Scope, subject: str, limits: Limits, usage: Usage, request: Request) -> None:
    """Raise QUOTA_EXCEEDED naming the first quota the submission would take past its limit."""
    wanted = {
        "max_jobs_per_batch": request.jobs,
        "max_active_jobs": usage.active_jobs + request.jobs,
        "max_batches_per_day": usage.batches_today + 1,
        "max_retention_days": request.retention_days or 0,
    }
    for quota, would_be in wanted.items():
        limit = getattr(limits, quota)
        if limit is not None and would_be > limit:
            raise QuotaExceededError(scope, subject, quota, limit, would_be)


@pinned
class QuotasCreated(BatchqCreated):
    def apply(self, quotas: Quotas) -> None:
        super().apply(quotas)
        quotas.limits = {}


@pinned
class QuotaSet(BatchqEvent):
    scope: str
    subject: str
    limits: dict[str, Any]  # the limits it changed; the others stay as they were
    set_by: str
    reason: str = ""

    def apply(self, quotas: Quotas) -> None:
        key = (Scope(self.scope), self.subject)
        quotas.limits = {**quotas.limits, key: quotas.of(*key).merged(self.limits)}


class Quotas(BatchqAggregate):
    """Every quota of the installation; one aggregate, so changes are ordered by its version."""

    if TYPE_CHECKING:
        limits: dict[tuple[Scope, str], Limits]

    def of(self, scope: Scope, subject: str) -> Limits:
        return self.limits.get((scope, subject), Limits())

    def set(
        self, scope: Scope, subject: str, changes: dict[str, int | None], set_by: str, reason: str, now: datetime
    ) -> None:
        unknown = set(changes) - LIMIT_NAMES
        if unknown:
            raise DomainError(f"no such quota: {', '.join(sorted(unknown))}")
        if any(value is not None and value < 0 for value in changes.values()):
            raise DomainError("a quota is a number of 0 or more (or unset)")
        self._record(QuotaSet, now, scope=scope.value, subject=subject, limits=changes, set_by=set_by, reason=reason)


def create_quotas(now: datetime) -> Quotas:
    return Quotas._begin(
        QuotasCreated, QUOTAS_ID, now, tenant=SYSTEM_TENANT, user_id=SYSTEM_TENANT, trace_id="", batch_id=None
    )
