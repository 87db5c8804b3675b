"""The dispatcher hears outcomes by following the store's log: every one, in position order, from where it starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from contracts.envelope import EventHeading
from domain.submission import JobDraft
from services.adapters.follower import LogFollower
from tests.unit.domain.builders import draft, job_id
from tests.unit.services.embedded import HANDLER_ERROR, Engine


def follow(engine: Engine, after: int, types: tuple[str, ...], until: int) -> list[EventHeading]:
    """The headings the follower hands over, from `after`, until it has read up to position `until`."""
    heard: list[EventHeading] = []

    async def scenario() -> None:
        following = asyncio.Event()
        following.set()

        async def handle(page: list[EventHeading]) -> None:
            heard.extend(page)

        follower = LogFollower(engine.store, types, handle, page=3)  # small pages: several reads
        task = asyncio.create_task(follower.run(after, following))
        while follower.position < until:
            await asyncio.sleep(0.01)
        following.clear()
        await task

    asyncio.run(scenario())
    return heard


def test_the_follower_hands_over_each_outcome_in_order_and_nothing_else(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.submit(draft([JobDraft(job_uuid=job_id(n)) for n in (1, 2, 3)]))
    start = engine.store.max_position()
    engine.run(job_id(2))
    engine.run(job_id(1), error=HANDLER_ERROR)
    engine.run(job_id(3))

    heard = follow(engine, start, ("JobCompleted", "JobFailed"), engine.store.max_position())

    assert [(h.type, h.aggregate_id) for h in heard] == [
        ("JobCompleted", job_id(2)), ("JobFailed", job_id(1)), ("JobCompleted", job_id(3)),
    ]  # fmt: skip
    assert [h.position for h in heard] == sorted(h.position for h in heard)
    assert all(h.aggregate_version == 3 for h in heard)


def test_the_follower_starts_after_the_position_it_is_given(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.submit(draft([JobDraft(job_uuid=job_id(n)) for n in (1, 2)]))
    engine.run(job_id(1))
    start = engine.store.max_position()
    engine.run(job_id(2))

    heard = follow(engine, start, ("JobCompleted",), engine.store.max_position())

    assert [h.aggregate_id for h in heard] == [job_id(2)]


def test_a_page_whose_handling_fails_is_handed_over_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(tmp_path)
    engine.submit(draft([JobDraft(job_uuid=job_id(1))]))
    start = engine.store.max_position()
    engine.run(job_id(1))
    monkeypatch.setattr("services.adapters.follower.RETRY_SECONDS", 0.01)
    calls: list[list[EventHeading]] = []

    async def scenario() -> None:
        following = asyncio.Event()
        following.set()

        async def handle(page: list[EventHeading]) -> None:
            calls.append(page)
            if len(calls) == 1:
                raise ConnectionError("the broker went away")

        follower = LogFollower(engine.store, ("JobCompleted",), handle)
        task = asyncio.create_task(follower.run(start, following))
        while len(calls) < 2:
            await asyncio.sleep(0.01)
        following.clear()
        await task

    asyncio.run(scenario())

    assert calls[0] == calls[1] and [h.aggregate_id for h in calls[1]] == [job_id(1)]


def test_a_log_that_grows_with_nothing_wanted_is_read_at_a_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reporter wants batch events only; through a run the log grows by every job's events.
    Each read finds the log grown and nothing wanted: the follower waits between reads (up to
    IDLE_WAIT_MAX) instead of reading again at once, which kept it querying without pause."""
    reads = 0

    def grown_by_one(self: LogFollower) -> tuple[int, list[EventHeading]]:
        nonlocal reads
        reads += 1
        return self.position + 1, []

    monkeypatch.setattr(LogFollower, "_read", grown_by_one)

    async def scenario() -> None:
        following = asyncio.Event()
        following.set()

        async def handle(page: list[EventHeading]) -> None:
            raise AssertionError("nothing was wanted")

        follower = LogFollower(None, ("BatchReportingStarted",), handle)  # type: ignore[arg-type]
        task = asyncio.create_task(follower.run(0, following))
        await asyncio.sleep(0.5)
        following.clear()
        await task

    asyncio.run(scenario())

    assert 3 <= reads <= 25  # 0.5 s at most 50 ms apart after backing off from 2 ms; it was thousands
