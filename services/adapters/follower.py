"""Following the store's log by position, for a service that needs to know what others recorded.

The dispatcher must hear each job's outcome, which the workers record. Hearing
it through RabbitMQ cost a quorum-queue message per job (the relay's publish
routed into the dispatcher's queue, then delivered, parsed and acked); reading
it from the store costs one indexed query per page of events. The follower
reads only the headings (position, aggregate, version, type): never the events'
state, so it needs no decoding and no key. It follows every position in order,
so nothing is skipped, and it starts where the caller's view of the store was
taken: whatever was recorded since is heard, some of it perhaps twice, which
the dispatcher's reactions already allow (the broker delivered at least once too).
A page whose handling fails (the broker away while dispatching) is handled again
until it succeeds: the follower never moves past an outcome it did not act on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection

import psycopg
from eventsourcing.persistence import PersistenceError

from contracts.envelope import EventHeading
from services.adapters.logging import get_logger
from services.adapters.store import EventStore

log = get_logger("batchq.follower")

PAGE = 5000
IDLE_WAIT_MIN = 0.002
IDLE_WAIT_MAX = 0.05  # the most an outcome waits to be heard once the log has gone quiet
RETRY_SECONDS = 1.0

Handle = Callable[[list[EventHeading]], Awaitable[None]]


class LogFollower:
    def __init__(self, store: EventStore, types: Collection[str], handle: Handle, *, page: int = PAGE) -> None:
        self.store = store
        self.types = frozenset(types)
        self.handle = handle
        self.page = page
        self.position = 0

    async def run(self, after: int, following: asyncio.Event) -> None:
        """Hand each page of matching headings to `handle`, in position order, while `following` is set."""
        self.position = after
        idle = IDLE_WAIT_MIN
        while following.is_set():
            try:
                scanned, found = await asyncio.to_thread(self._read)
            except (OSError, psycopg.Error, PersistenceError) as error:
                log.warning("follower_interrupted", position=self.position, reason=repr(error)[:300])
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if found:
                try:
                    await self.handle(found)
                except Exception:  # e.g. a publish lost with the broker: the same page again, later
                    log.exception("follower_handler_failed", position=self.position, retry_in=RETRY_SECONDS)
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
            full_page = scanned - self.position >= self.page
            self.position = max(self.position, scanned)
            if found or full_page:
                idle = IDLE_WAIT_MIN  # busy for us, or more to read: look again at once
                continue
            # Nothing of ours: wait, longer each time. Looking again at once whenever the log had
            # merely grown kept the reporter (which wants only batch events) querying without pause
            # all through a run: 0.11-0.13 ms of its CPU per job, and PostgreSQL's for the queries.
            await asyncio.sleep(idle)
            idle = min(IDLE_WAIT_MAX, idle * 2)

    def _read(self) -> tuple[int, list[EventHeading]]:
        """(the position read up to; the headings of the wanted types up to there)."""
        scanned, rows = self.store.dialect.select_headings(self.position, self.page, self.types)
        found = [
            EventHeading(type=kind, aggregate_id=aggregate_id, aggregate_version=version, position=position)
            for position, aggregate_id, version, kind in rows
        ]
        return scanned, found
