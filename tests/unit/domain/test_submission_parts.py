"""A new batch's jobs are made and appended in parts: every job once, in order, each item claim with its job."""

from __future__ import annotations

from itertools import islice

import pytest

from domain.item import Item
from domain.job import Job
from domain.states import JobStatus
from domain.submission import ItemOwner, JobDraft, growing_parts, item_ids, jobs_in_parts
from tests.unit.domain.builders import T0, draft, job_id

ITEM = {"key": "release-42", "version": 2, "target": "retailer-x"}


def parts_of(specs: list[JobDraft], first: int = 4, largest: int = 8) -> list[tuple[list[Job | Item], list[Job]]]:
    batch = draft(specs)
    return list(jobs_in_parts(batch, batch.jobs, {}, T0, None, growing_parts(first, largest)))


def test_part_sizes_start_small_and_double_up_to_the_largest() -> None:
    assert list(islice(growing_parts(256, 4096), 7)) == [256, 512, 1024, 2048, 4096, 4096, 4096]


@pytest.mark.parametrize(
    ("jobs", "sizes"),
    [
        (0, [0]),  # a batch of no jobs still has its one (empty) part, which stores the batch
        (1, [1]),
        (4, [4]),
        (5, [4, 1]),
        (20, [4, 8, 8]),
    ],
)
def test_parts_cover_every_job_once_in_manifest_order(jobs: int, sizes: list[int]) -> None:
    parts = parts_of([JobDraft(job_id(n)) for n in range(jobs)])

    assert [len(part_jobs) for _, part_jobs in parts] == sizes
    assert [job.id for _, part_jobs in parts for job in part_jobs] == [job_id(n) for n in range(jobs)]


def test_an_item_claim_is_appended_with_the_job_that_claims_it() -> None:
    parts = parts_of([JobDraft(job_id(n), item=ITEM if n == 5 else None) for n in range(8)])

    second, _ = parts[1]
    [claim] = [a for a in second if isinstance(a, Item)]
    assert claim.owner == job_id(5)
    assert job_id(5) in {a.id for a in second if isinstance(a, Job)}
    assert not any(isinstance(a, Item) for a in parts[0][0])


def test_a_later_part_knows_the_items_claimed_by_an_earlier_one() -> None:
    parts = parts_of([JobDraft(job_id(n), item=ITEM if n in (1, 6) else None) for n in range(8)])

    [later] = [job for _, jobs in parts for job in jobs if job.id == job_id(6)]
    assert later.status is JobStatus.SKIPPED
    assert sum(isinstance(a, Item) for aggregates, _ in parts for a in aggregates) == 1


def test_an_item_owned_outside_the_batch_skips_the_job_in_any_part() -> None:
    batch = draft([JobDraft(job_id(n), item=ITEM if n == 7 else None) for n in range(8)])
    owners = {i: ItemOwner(job_id(900), "COMPLETED") for i in item_ids(batch)}

    parts = list(jobs_in_parts(batch, batch.jobs, owners, T0, None, growing_parts(4, 4)))

    assert parts[1][1][-1].status is JobStatus.SKIPPED
