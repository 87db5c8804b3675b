"""Canary routing as a table, its share over many jobs, and the stage's life as events."""

from __future__ import annotations

import random
from uuid import UUID

import pytest

from domain.canary import CANARY_POOL, DEFAULT_POOL, Stage, create_canary, pool_for
from domain.errors import DomainError, IllegalTransitionError
from tests.unit.domain.builders import at

LOW, HIGH = UUID(int=5), UUID(int=9_999)  # buckets 5 and 9,999 of 10,000

ROUTES = [
    ("no canary: default", None, LOW, "acme", DEFAULT_POOL),
    ("100 %: canary", Stage(100.0), HIGH, "acme", CANARY_POOL),
    ("a low bucket within 1 %", Stage(1.0), LOW, "acme", CANARY_POOL),
    ("a high bucket past 1 %", Stage(1.0), HIGH, "acme", DEFAULT_POOL),
    ("another tenant's canary: default", Stage(100.0, "globex"), LOW, "acme", DEFAULT_POOL),
    ("this tenant's canary", Stage(100.0, "acme"), LOW, "acme", CANARY_POOL),
]


@pytest.mark.parametrize(("stage", "job_uuid", "tenant", "pool"), [r[1:] for r in ROUTES], ids=[r[0] for r in ROUTES])
def test_a_new_job_goes_to_the_pool_its_id_and_the_stage_choose(
    stage: Stage | None, job_uuid: UUID, tenant: str, pool: str
) -> None:
    assert pool_for(job_uuid, tenant, stage) == pool
    assert pool_for(job_uuid, tenant, stage) == pool  # stable: the same answer every time


def test_ten_percent_of_two_thousand_jobs_is_ten_percent_give_or_take_two() -> None:
    draw = random.Random(7)
    jobs = [UUID(int=draw.getrandbits(128), version=4) for _ in range(2000)]

    share = sum(pool_for(j, "acme", Stage(10.0)) == CANARY_POOL for j in jobs) / len(jobs)

    assert 0.08 <= share <= 0.12


def test_a_stage_starts_once_and_ends_by_promotion_or_abort() -> None:
    canary = create_canary(at(0))
    canary.start(10.0, None, "root", "v2 handlers", at(1))

    with pytest.raises(IllegalTransitionError):
        canary.start(20.0, None, "root", "", at(2))
    canary.abort("root", "errors up", at(3))
    with pytest.raises(IllegalTransitionError):
        canary.promote("root", "", at(4))

    assert canary.stage is None
    names = [type(e).__name__ for e in canary.collect_events()]
    assert names == ["CanaryCreated", "CanaryStarted", "CanaryAborted"]


@pytest.mark.parametrize("percent", [0.0, -1.0, 100.5])
def test_a_share_outside_0_to_100_is_refused(percent: float) -> None:
    with pytest.raises(DomainError):
        create_canary(at(0)).start(percent, None, "root", "", at(1))
