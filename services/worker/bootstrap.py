"""The worker's composition root: nothing connects at import."""

from __future__ import annotations

from services.adapters.amqp import AmqpBus
from services.adapters.bus import Bus
from services.adapters.lifecycle import run_service
from services.adapters.locks import Locks, PostgresLocks
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.worker.handlers import Handler
from services.worker.service import WorkerService


def build(
    settings: Settings,
    *,
    store: EventStore | None = None,
    bus: Bus | None = None,
    locks: Locks | None = None,
    handlers: dict[str, Handler] | None = None,
) -> WorkerService:
    store = store or EventStore.postgres(settings.database_url, schema=settings.database_schema)
    bus = bus or AmqpBus(settings.amqp_url, queue_type=settings.queue_type)
    locks = locks or PostgresLocks(settings.database_url, settings.database_schema)
    return WorkerService(settings, store, bus, locks, handlers)


def main() -> int:
    """`python -m services.worker`, and `batchq run worker`."""
    return run_service(build, name="worker")
