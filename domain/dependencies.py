"""Dependent jobs (the Data Engine sequence): who waits for whom inside a batch.

A job runs only when every job it depends on has COMPLETED; a dependency that
fails for good, is cancelled or skipped without being done cancels its
dependents, transitively. Unknown dependencies and cycles are refused up front.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from uuid import UUID

from domain.errors import InvalidDependenciesError


def check_graph(depends_on: Mapping[UUID, Sequence[UUID]]) -> None:
    """Refuse dependencies outside the batch, on itself, or in a cycle."""
    for job, deps in depends_on.items():
        for dep in deps:
            if dep == job:
                raise InvalidDependenciesError(f"jobs.{job}.depends_on: a job cannot depend on itself")
            if dep not in depends_on:
                raise InvalidDependenciesError(f"jobs.{job}.depends_on: {dep} is not a job of this batch")
    cycle = find_cycle(depends_on)
    if cycle:
        path = " → ".join(str(j) for j in cycle)
        raise InvalidDependenciesError(f"depends_on: cycle {path}")


def find_cycle(depends_on: Mapping[UUID, Sequence[UUID]]) -> list[UUID]:
    """One cycle in the graph, as a path that starts and ends at the same job; [] if none.

    Only jobs with dependencies start a search (a job without any closes no cycle), and a
    job is coloured when reached: most jobs of a big batch have no dependencies, and such
    a batch of 100,000 jobs is checked in milliseconds instead of 0.35 s.
    """
    grey, black = 1, 2
    color: dict[UUID, int] = {}  # absent: not reached yet
    for root, root_deps in depends_on.items():
        if not root_deps or root in color:
            continue
        # Iterative DFS: a 100,000-job chain must not hit the recursion limit.
        stack: list[tuple[UUID, int]] = [(root, 0)]
        path: list[UUID] = []
        while stack:
            job, index = stack.pop()
            if index == 0:
                color[job] = grey
                path.append(job)
            deps = depends_on[job]
            if index < len(deps):
                stack.append((job, index + 1))
                dep = deps[index]
                reached = color.get(dep)
                if reached == grey:
                    return [*path[path.index(dep) :], dep]
                if reached is None:
                    stack.append((dep, 0))
            else:
                color[job] = black
                path.pop()
    return []


def dependents_index(depends_on: Mapping[UUID, Sequence[UUID]]) -> dict[UUID, list[UUID]]:
    """Invert the graph: for each job, the jobs that wait for it."""
    index: dict[UUID, list[UUID]] = {}
    for job, deps in depends_on.items():
        for dep in deps:
            index.setdefault(dep, []).append(job)
    return index


def is_ready(deps: Iterable[UUID], done: Callable[[UUID], bool]) -> bool:
    """Every dependency done (`domain.states.is_done`: COMPLETED, or skipped as already done)."""
    return all(done(dep) for dep in deps)


def transitive_dependents(root: UUID, dependents_of: Callable[[UUID], Sequence[UUID]]) -> list[UUID]:
    """Every job that waits for `root`, directly or through others, breadth first."""
    seen: set[UUID] = set()
    order: list[UUID] = []
    queue = deque(dependents_of(root))
    while queue:
        job = queue.popleft()
        if job in seen:
            continue
        seen.add(job)
        order.append(job)
        queue.extend(dependents_of(job))
    return order
