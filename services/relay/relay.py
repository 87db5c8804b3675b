"""The outbox relay: every committed event, in position order, onto `batchq.events`.

Consecutive events with one routing key share a message (`grouping.py`).

It reads the store after its recorded position, publishes with confirms, and
only then records the new position, so a crash anywhere loses nothing (the
events are published again: consumers ignore a position they have seen). One
relay publishes at a time: the leader holds a PostgreSQL advisory lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aiormq
import psycopg
from eventsourcing.persistence import Notification, PersistenceError

from contracts import names
from services.adapters.bus import Bus, Message
from services.adapters.envelopes import dumps, envelope_of_stored, routing_key
from services.adapters.logging import get_logger
from services.adapters.store import EventStore
from services.adapters.topology import REQUIRED_EVENT_TYPES
from services.relay.grouping import event_messages

log = get_logger("batchq.relay")

RELAY_NAME = "relay"
PAGE = 1000
IDLE_WAIT_MAX = 0.2


class Relay:
    def __init__(self, store: EventStore, bus: Bus, *, page: int = PAGE) -> None:
        self.store = store
        self.bus = bus
        self.page = page
        self.position = 0
        self.published = 0
        self.unpublishable = 0  # events skipped on the bus (they stay in the store)

    async def run(self, stopping: asyncio.Event, leadership: Callable[[], Awaitable[None]] | None = None) -> None:
        if leadership is not None:
            await leadership()  # returns once this process leads
        self.position = await asyncio.to_thread(self.store.dialect.relay_position, RELAY_NAME)
        log.info("relay_started", position=self.position)
        while not stopping.is_set():
            try:
                await self._relay(stopping)
            except (OSError, TimeoutError, psycopg.Error, PersistenceError, aiormq.exceptions.AMQPError) as error:
                # A server went away: start again from the recorded position once it is back.
                log.warning("relay_interrupted", position=self.position, reason=repr(error)[:300], retry_in=1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=1.0)

    async def _relay(self, stopping: asyncio.Event) -> None:
        idle = 0.005
        page = await self._read(self.position)
        while not stopping.is_set():
            if not page:
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=idle)
                except TimeoutError:
                    idle = min(IDLE_WAIT_MAX, idle * 2)
                page = await self._read(self.position)
                continue
            idle = 0.005
            # Read the next page while this one is being published and confirmed.
            following = asyncio.create_task(self._read(page[-1][0]))
            try:
                await self._publish(page)
            except BaseException:
                following.cancel()
                raise
            page = await following

    async def _read(self, after: int) -> list[tuple[int, Message | None]]:
        return await asyncio.to_thread(self._messages, after)

    def _messages(self, after: int) -> list[tuple[int, Message | None]]:
        pages = []
        for notification in self.store.read_stored(after, self.page):
            # A skipped event keeps its place (None), so the position still moves past it.
            pages.append((notification.id, self._message(notification)))
        return pages

    def _message(self, notification: Notification) -> Message | None:
        """The event's message; None (logged, counted) for one that cannot be published.

        One such event must not hold back every other: it is skipped on the bus,
        stays in the store (`batchq events` shows it) and the relay goes on.
        """
        try:
            env = envelope_of_stored(notification, self.store.sealer)
            required = env["type"] in REQUIRED_EVENT_TYPES
            return Message(routing_key=routing_key(env), body=dumps(env), mandatory=required)
        except Exception as error:
            self.unpublishable += 1
            log.error(
                "event_unpublishable", position=notification.id, topic=notification.topic, reason=repr(error)[:500]
            )
            return None

    async def _publish(self, page: list[tuple[int, Message | None]]) -> None:
        messages = event_messages([m for _, m in page if m is not None])
        if messages:
            await self.bus.publish_many(names.EVENTS_EXCHANGE, messages, mandatory=True)
        self.position = page[-1][0]
        await asyncio.to_thread(self.store.dialect.set_relay_position, RELAY_NAME, self.position)
        self.published += len(page)


class RelayInProcess:
    """The relay as a task of the dispatcher's own event loop (the embedded mode)."""

    def __init__(self, store: EventStore, bus: Bus) -> None:
        self.relay = Relay(store, bus)
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.stopping = asyncio.Event()
        self.task = asyncio.create_task(self.relay.run(self.stopping))

    async def stop(self) -> None:
        self.stopping.set()
        if self.task is not None:
            await self.task
