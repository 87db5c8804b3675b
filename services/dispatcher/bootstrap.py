"""The dispatcher's composition root: nothing connects at import."""

from __future__ import annotations

from services.adapters.amqp import AmqpBus
from services.adapters.bus import Bus
from services.adapters.lifecycle import ChildProcess, Service, run_service
from services.adapters.locks import Locks, PostgresLocks
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.dispatcher.service import DispatcherService

RELAY_MODULE = "services.relay"  # run as a child process: see services/relay/bootstrap.py


def relay_process(settings: Settings) -> ChildProcess:
    """The relay connects as its own user where one is set: only it may publish on `batchq.events`."""
    return ChildProcess(RELAY_MODULE, settings, BATCHQ_AMQP_URL=settings.relay_amqp_url or settings.amqp_url)


def build(
    settings: Settings,
    *,
    store: EventStore | None = None,
    bus: Bus | None = None,
    locks: Locks | None = None,
    relay: Service | None = None,
) -> DispatcherService:
    """By default the relay runs in a process of its own; the embedded mode passes one in-process."""
    store = store or EventStore.postgres(settings.database_url, schema=settings.database_schema)
    bus = bus or AmqpBus(settings.amqp_url, queue_type=settings.queue_type)
    locks = locks or PostgresLocks(settings.database_url, settings.database_schema)
    return DispatcherService(settings, store, bus, locks, relay or relay_process(settings))


def main() -> int:
    """`python -m services.dispatcher`, and `batchq run dispatcher`."""
    return run_service(build, name="dispatcher")
