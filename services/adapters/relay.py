"""The outbox relay: every committed event, in position order, onto `batchq.events`.

It reads the store after its recorded position, publishes with confirms, and
only then records the new position, so a crash anywhere loses nothing (the
events are published again: consumers ignore a position they have seen). One
relay publishes at a time: the leader holds a PostgreSQL advisory lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from contracts import names
from services.adapters.bus import Bus, Message
from services.adapters.envelopes import dumps, envelope, routing_key
from services.adapters.logging import get_logger
from services.adapters.store import EventStore

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

    async def run(self, stopping: asyncio.Event, leadership: Callable[[], Awaitable[None]] | None = None) -> None:
        if leadership is not None:
            await leadership()  # returns once this process leads
        self.position = await asyncio.to_thread(self.store.dialect.relay_position, RELAY_NAME)
        log.info("relay_started", position=self.position)
        idle = 0.005
        while not stopping.is_set():
            if await self.relay_once():
                idle = 0.005
                continue
            try:
                await asyncio.wait_for(stopping.wait(), timeout=idle)
            except TimeoutError:
                idle = min(IDLE_WAIT_MAX, idle * 2)

    async def relay_once(self) -> int:
        """Publish the next page of events; return how many."""
        records = await asyncio.to_thread(self.store.read, self.position, self.page)
        if not records:
            return 0
        envelopes = [envelope(r.position, r.event) for r in records]
        messages = [Message(routing_key=routing_key(e), body=dumps(e)) for e in envelopes]
        await self.bus.publish_many(names.EVENTS_EXCHANGE, messages, mandatory=True)
        self.position = records[-1].position
        await asyncio.to_thread(self.store.dialect.set_relay_position, RELAY_NAME, self.position)
        self.published += len(records)
        return len(records)
