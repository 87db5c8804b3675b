"""Item idempotency (seed 003): one owner per (tenant, target, key, version).

Given the owners the store already holds (`owners`, keyed by item id), when
`create_batch` builds the batch, then a job for an owned item is SKIPPED and
points at the owner, and a job for a new item claims it and stays PENDING.
"""

from __future__ import annotations

from typing import Any

from domain.item import claim_item, item_id
from domain.states import JobStatus
from domain.submission import ItemOwner, JobDraft, NewBatch, create_batch, item_ids
from tests.unit.domain.builders import TENANT, TRACE_ID, USER_ID, at, draft, job_id, new_events

EARLIER = job_id(900)
RELEASE_42_V2 = {"key": "release-42", "version": 2, "target": "retailer-x"}


def submit(*items: dict[str, Any], owners: dict[Any, ItemOwner] | None = None) -> NewBatch:
    jobs = [JobDraft(job_id(n), item=item) for n, item in enumerate(items, start=1)]
    return create_batch(draft(jobs), owners or {}, at(0))


def owned_by(status: str, item: dict[str, Any] = RELEASE_42_V2) -> dict[Any, ItemOwner]:
    return {item_id(TENANT, item): ItemOwner(job_uuid=EARLIER, status=status)}


def test_item_done_by_a_completed_job_is_skipped_as_done() -> None:
    created = submit(RELEASE_42_V2, owners=owned_by("COMPLETED"))

    [job] = created.jobs
    assert new_events(job) == ["JobSubmitted", "JobSkipped"]
    assert job.status is JobStatus.SKIPPED
    assert job.skipped_as_done
    assert job.skipped_because == {
        "reason": f"item release-42 v2 for retailer-x is COMPLETED in job {EARLIER}",
        "earlier_job_uuid": EARLIER,
        "earlier_status": "COMPLETED",
        "as_done": True,
    }
    assert created.items == []


def test_item_of_a_failed_job_is_skipped_but_not_done() -> None:
    created = submit(RELEASE_42_V2, owners=owned_by("FAILED"))

    [job] = created.jobs
    assert job.status is JobStatus.SKIPPED
    assert not job.skipped_as_done
    assert job.skipped_because is not None
    assert job.skipped_because["earlier_job_uuid"] == EARLIER
    assert job.skipped_because["earlier_status"] == "FAILED"
    assert created.items == []


def test_new_version_of_a_done_item_is_claimed_and_runs() -> None:
    re_release = {**RELEASE_42_V2, "version": 3}

    created = submit(re_release, owners=owned_by("COMPLETED"))

    [job] = created.jobs
    [claim] = created.items
    assert job.status is JobStatus.PENDING
    assert new_events(job) == ["JobSubmitted"]
    assert new_events(claim) == ["ItemClaimed"]
    assert claim.id == item_id(TENANT, re_release)
    assert (claim.target, claim.key, claim.item_version, claim.owner) == (
        "retailer-x",
        "release-42",
        3,
        job.id,
    )


def test_second_job_for_the_same_item_in_one_batch_is_skipped() -> None:
    created = submit(RELEASE_42_V2, dict(RELEASE_42_V2))

    first, second = created.jobs
    [claim] = created.items
    assert first.status is JobStatus.PENDING
    assert claim.owner == first.id
    assert second.status is JobStatus.SKIPPED
    assert second.skipped_because is not None
    assert second.skipped_because["earlier_job_uuid"] == first.id
    assert not second.skipped_as_done


def test_same_key_for_another_target_or_tenant_is_another_item() -> None:
    other_target = {**RELEASE_42_V2, "target": "retailer-y"}

    created = submit(RELEASE_42_V2, other_target)

    assert [job.status for job in created.jobs] == [JobStatus.PENDING, JobStatus.PENDING]
    assert len(created.items) == 2
    assert item_id("acme", RELEASE_42_V2) != item_id("globex", RELEASE_42_V2)


def test_jobs_without_items_claim_nothing() -> None:
    created = submit({}, RELEASE_42_V2)

    assert [job.status for job in created.jobs] == [JobStatus.PENDING, JobStatus.PENDING]
    assert [claim.owner for claim in created.items] == [job_id(2)]


def test_item_ids_are_stable_and_listed_for_the_store_to_look_up() -> None:
    jobs = [JobDraft(job_id(1), item=RELEASE_42_V2), JobDraft(job_id(2))]

    assert item_ids(draft(jobs)) == [item_id(TENANT, dict(RELEASE_42_V2))]
    assert item_id(TENANT, {"key": "release-42", "version": "2", "target": "retailer-x"}) == item_id(
        TENANT, RELEASE_42_V2
    )


def test_reclaiming_an_item_for_another_job_records_the_new_owner() -> None:
    claim = claim_item(
        tenant=TENANT,
        user_id=USER_ID,
        trace_id=TRACE_ID,
        batch_id=job_id(100),
        item=RELEASE_42_V2,
        job_uuid=EARLIER,
        now=at(0),
    )
    new_events(claim)

    claim.reclaim(EARLIER, at(1))
    assert new_events(claim) == []  # the owner reclaiming its own item changes nothing

    claim.reclaim(job_id(1), at(2))
    assert new_events(claim) == ["ItemReclaimed"]
    assert claim.owner == job_id(1)
