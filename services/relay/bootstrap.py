"""The relay's process: `python -m services.relay`, started and watched over by the dispatcher.

It takes the relay's own leadership lock, so two dispatchers never run two
relays, and stops when its parent dies or its lock connection drops (the
dispatcher then starts a new one, which waits for the lock).
"""

from __future__ import annotations

import asyncio
import os
import signal

from services.adapters.amqp import AmqpBus
from services.adapters.lifecycle import tune_garbage_collector
from services.adapters.locks import RELAY_KEY, PostgresLocks
from services.adapters.logging import configure, get_logger
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.relay.relay import Relay

log = get_logger("batchq.relay")


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
    """Lead, then relay until SIGTERM."""
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


def main() -> int:
    tune_garbage_collector()
    settings = Settings.from_env()
    configure(settings.log_level)
    asyncio.run(serve_relay(settings))
    return 0
