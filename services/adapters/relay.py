"""The outbox relay: every committed event, in position order, onto `batchq.events`.

It reads the store after its recorded position, publishes with confirms, and
only then records the new position, so a crash anywhere loses nothing (the
events are published again: consumers ignore a position they have seen). One
relay publishes at a time: the leader holds a PostgreSQL advisory lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import aiormq
import psycopg
from eventsourcing.persistence import Notification, PersistenceError

from contracts import names
from services.adapters.amqp import AmqpBus
from services.adapters.bus import Bus, Message
from services.adapters.envelopes import dumps, envelope_of_stored, routing_key
from services.adapters.locks import RELAY_KEY, PostgresLocks
from services.adapters.logging import configure, get_logger
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.adapters.topology import REQUIRED_EVENT_TYPES

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
            env = envelope_of_stored(notification)
            required = env["type"] in REQUIRED_EVENT_TYPES
            return Message(routing_key=routing_key(env), body=dumps(env), mandatory=required)
        except Exception as error:
            self.unpublishable += 1
            log.error(
                "event_unpublishable", position=notification.id, topic=notification.topic, reason=repr(error)[:500]
            )
            return None

    async def _publish(self, page: list[tuple[int, Message | None]]) -> None:
        messages = [m for _, m in page if m is not None]
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


class RelayProcess:
    """The relay in a process of its own, started and watched over by the dispatcher.

    It publishes three events per job; sharing a process (and so a GIL) with the
    dispatcher, it would be the slowest step of every batch. The child takes the
    relay's own leadership lock, so two dispatchers never run two relays.
    """

    RESTART_SECONDS = 1.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: asyncio.subprocess.Process | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.stopping = False

    async def start(self) -> None:
        self.stopping = False
        self.watcher = asyncio.create_task(self._keep_running())

    async def _keep_running(self) -> None:
        while not self.stopping:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.adapters.relay", env=self.settings.child_environment()
            )
            code = await self.process.wait()
            if not self.stopping:
                log.error("relay_process_exited", exit_code=code, restart_in=self.RESTART_SECONDS)
                await asyncio.sleep(self.RESTART_SECONDS)

    async def stop(self) -> None:
        self.stopping = True
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                self.process.kill()
        if self.watcher is not None:
            await self.watcher


async def _stop_when_orphaned(stopping: asyncio.Event) -> None:
    """A dispatcher killed with SIGKILL cannot stop its relay: the relay notices and goes."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    log.warning("relay_orphaned", parent=parent)
    stopping.set()


async def _stop_when_lost(locks: PostgresLocks, stopping: asyncio.Event) -> None:
    await locks.lost()
    stopping.set()


async def serve_relay(settings: Settings) -> None:
    """`python -m services.adapters.relay`: lead, then relay until SIGTERM."""
    store = EventStore.postgres(settings.database_url, schema=settings.database_schema)
    bus = AmqpBus(settings.amqp_url, queue_type=settings.queue_type)
    locks = PostgresLocks(settings.database_url, settings.database_schema)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await bus.connect()
    orphan_watch = asyncio.create_task(_stop_when_orphaned(stopping))
    watches = [orphan_watch]

    async def lead() -> None:
        await locks.lead(RELAY_KEY)
        # A relay whose lock connection dropped may have a successor already: it
        # stops, and the dispatcher starts a new one that waits for the lock.
        watches.append(asyncio.create_task(_stop_when_lost(locks, stopping)))

    try:
        await Relay(store, bus).run(stopping, leadership=lead)
    finally:
        for watch in watches:
            watch.cancel()
        await bus.close()
        await locks.close()


if __name__ == "__main__":
    configure(Settings.from_env().log_level)
    asyncio.run(serve_relay(Settings.from_env()))
