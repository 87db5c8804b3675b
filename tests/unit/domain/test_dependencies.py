"""Dependent jobs (seed 002): which graphs a batch may have, who waits for whom, who is ready.

`create_batch` refuses a manifest whose `depends_on` names a job outside the
batch, the job itself, or closes a cycle; the refusal names the offending job
and nothing is created.
"""

from __future__ import annotations

import sys
from uuid import UUID

import pytest

from domain.dependencies import (
    check_graph,
    dependents_index,
    find_cycle,
    is_ready,
    transitive_dependents,
)
from domain.errors import InvalidDependenciesError
from domain.states import JobStatus, is_done
from domain.submission import JobDraft, create_batch
from tests.unit.domain.builders import at, draft, job_id

J1, J2, J3, J4, J5 = (job_id(n) for n in range(1, 6))


def submit(graph: dict[UUID, list[UUID]]) -> None:
    create_batch(draft(JobDraft(job, depends_on=deps) for job, deps in graph.items()), {}, at(0))


def test_dependency_on_a_job_outside_the_batch_is_refused() -> None:
    with pytest.raises(InvalidDependenciesError) as refused:
        submit({J1: [], J2: [J1, J5]})

    assert refused.value.code == "INVALID_MESSAGE"
    assert str(refused.value) == f"jobs.{J2}.depends_on: {J5} is not a job of this batch"


def test_job_depending_on_itself_is_refused() -> None:
    with pytest.raises(InvalidDependenciesError) as refused:
        submit({J1: [], J2: [J2]})

    assert str(refused.value) == f"jobs.{J2}.depends_on: a job cannot depend on itself"


def test_two_job_cycle_is_refused_naming_both_jobs() -> None:
    with pytest.raises(InvalidDependenciesError) as refused:
        submit({J1: [J2], J2: [J1], J3: []})

    assert str(refused.value) == f"depends_on: cycle {J1} → {J2} → {J1}"


def test_three_job_cycle_is_refused_naming_every_job_on_it() -> None:
    with pytest.raises(InvalidDependenciesError) as refused:
        submit({J4: [], J1: [J4, J2], J2: [J3], J3: [J1]})

    assert str(refused.value) == f"depends_on: cycle {J1} → {J2} → {J3} → {J1}"
    assert str(J4) not in str(refused.value)


def test_diamond_is_not_a_cycle() -> None:
    graph = {J1: [], J2: [J1], J3: [J1], J4: [J2, J3, J2]}  # a repeated dependency included

    submit(graph)

    assert find_cycle(graph) == []


def chain(length: int) -> dict[UUID, list[UUID]]:
    """Job n depends on job n + 1: a depth-first walk from job 1 goes `length` deep."""
    return {job_id(n): [job_id(n + 1)] if n < length else [] for n in range(1, length + 1)}


def test_hundred_thousand_job_chain_is_accepted_without_recursion() -> None:
    graph = chain(100_000)
    assert len(graph) > 10 * sys.getrecursionlimit()

    check_graph(graph)  # what create_batch calls first; returning at all is the test


def test_cycle_at_the_far_end_of_a_hundred_thousand_job_chain_is_found() -> None:
    graph = chain(100_000)
    graph[job_id(100_000)] = [job_id(99_999)]

    with pytest.raises(InvalidDependenciesError, match=f"cycle {job_id(99_999)} → {job_id(100_000)}"):
        check_graph(graph)


def test_create_batch_accepts_a_chain_deeper_than_the_recursion_limit() -> None:
    length = 2 * sys.getrecursionlimit()

    created = create_batch(draft(JobDraft(job, depends_on=deps) for job, deps in chain(length).items()), {}, at(0))

    assert len(created.jobs) == length
    assert created.jobs[0].depends_on == [job_id(2)]


def three_level_chain() -> dict[UUID, list[UUID]]:
    """J2 and J5 wait for J1, J3 waits for J2, J4 waits for J3."""
    return {J1: [], J2: [J1], J3: [J2], J4: [J3], J5: [J1]}


def test_transitive_dependents_of_a_three_level_chain_are_found_breadth_first() -> None:
    index = dependents_index(three_level_chain())

    assert transitive_dependents(J1, lambda job: index.get(job, [])) == [J2, J5, J3, J4]
    assert transitive_dependents(J2, lambda job: index.get(job, [])) == [J3, J4]
    assert transitive_dependents(J4, lambda job: index.get(job, [])) == []


def test_job_reached_by_two_paths_is_listed_once() -> None:
    index = dependents_index({J1: [], J2: [J1], J3: [J1], J4: [J2, J3]})

    assert transitive_dependents(J1, lambda job: index.get(job, [])) == [J2, J3, J4]


def test_dependents_index_inverts_depends_on() -> None:
    assert dependents_index(three_level_chain()) == {J1: [J2, J5], J2: [J3], J3: [J4]}


STATUS = {
    J1: JobStatus.COMPLETED,
    J2: JobStatus.PENDING,
    J3: JobStatus.FAILED,
    J4: JobStatus.SKIPPED,
}
DONE = {J4}  # J4 was skipped because its item was already done


@pytest.mark.parametrize(
    ("deps", "ready"),
    [
        ([], True),
        ([J1], True),
        ([J1, J4], True),
        ([J1, J2], False),
        ([J3], False),
    ],
    ids=["no-dependencies", "completed", "completed-and-skipped-as-done", "one-pending", "failed"],
)
def test_job_is_ready_when_every_dependency_is_done(deps: list[UUID], ready: bool) -> None:
    assert is_ready(deps, lambda job: is_done(STATUS[job], job in DONE)) is ready


def test_job_skipped_without_being_done_does_not_make_its_dependents_ready() -> None:
    assert not is_ready([J4], lambda job: is_done(STATUS[job], skipped_as_done=False))
