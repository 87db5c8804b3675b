"""The quota policy as a table: limits x usage x submission -> allowed, or the quota, limit and usage named."""

from __future__ import annotations

import pytest

from domain.errors import DomainError
from domain.quotas import Limits, QuotaExceededError, Request, Scope, Usage, check_submission, create_quotas
from tests.unit.domain.builders import at

NONE = Limits()
PER_BATCH, ACTIVE = Limits(max_jobs_per_batch=10), Limits(max_active_jobs=100)
PER_DAY, RETENTION = Limits(max_batches_per_day=3), Limits(max_retention_days=30)

# (limits, usage, request) -> None when allowed, else (quota, limit, usage it would reach)
CASES = [
    ("no limits allow anything", NONE, Usage(10**6, 10**6), Request(10**6, 3650), None),
    ("a batch exactly at the per-batch limit", PER_BATCH, Usage(), Request(10), None),
    ("a batch over the per-batch limit", PER_BATCH, Usage(), Request(11), ("max_jobs_per_batch", 10, 11)),
    ("active jobs reaching the limit", ACTIVE, Usage(90), Request(10), None),
    ("active jobs past the limit", ACTIVE, Usage(91), Request(10), ("max_active_jobs", 100, 101)),
    ("the last batch of the day", PER_DAY, Usage(batches_today=2), Request(1), None),
    ("one batch too many today", PER_DAY, Usage(batches_today=3), Request(1), ("max_batches_per_day", 3, 4)),
    ("retention within the limit", RETENTION, Usage(), Request(1, 30), None),
    ("retention past the limit", RETENTION, Usage(), Request(1, 31), ("max_retention_days", 30, 31)),
    ("no retention asked", RETENTION, Usage(), Request(1, None), None),
    ("a zero limit refuses all", Limits(max_batches_per_day=0), Usage(), Request(1), ("max_batches_per_day", 0, 1)),
]  # fmt: skip


@pytest.mark.parametrize(("limits", "usage", "request_", "refused"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_submission_is_allowed_unless_it_takes_a_quota_past_its_limit(
    limits: Limits, usage: Usage, request_: Request, refused: tuple[str, int, int] | None
) -> None:
    if refused is None:
        check_submission(Scope.TENANT, "acme", limits, usage, request_)
        return
    with pytest.raises(QuotaExceededError) as error:
        check_submission(Scope.TENANT, "acme", limits, usage, request_)
    quota, limit, would_be = refused
    assert (error.value.quota, error.value.limit, error.value.usage) == refused
    assert error.value.code == "QUOTA_EXCEEDED"
    assert error.value.reason == f"tenant acme: {quota} is {limit}; this submission would make it {would_be}"


def test_quotas_are_events_and_a_change_keeps_the_other_limits() -> None:
    quotas = create_quotas(at(0))
    quotas.set(Scope.TENANT, "acme", {"max_active_jobs": 100, "max_jobs_per_batch": 10}, "root", "trial", at(1))
    quotas.set(Scope.TENANT, "acme", {"max_active_jobs": 200}, "root", "upgrade", at(2))

    assert quotas.of(Scope.TENANT, "acme") == Limits(max_active_jobs=200, max_jobs_per_batch=10)
    assert quotas.of(Scope.USER, "acme") == Limits()
    assert [type(e).__name__ for e in quotas.collect_events()] == ["QuotasCreated", "QuotaSet", "QuotaSet"]


@pytest.mark.parametrize("changes", [{"max_jobs": 1}, {"max_active_jobs": -1}])
def test_an_unknown_or_negative_quota_is_refused(changes: dict[str, int | None]) -> None:
    with pytest.raises(DomainError):
        create_quotas(at(0)).set(Scope.USER, "u1", changes, "root", "", at(1))
