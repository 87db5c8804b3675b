"""The three services in the test's own event loop, on the real servers.

For tests that need to look inside a running system (the broker's view of a
delivery, say) without spawning processes; `tests/e2e` runs real processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from services.adapters.amqp import AmqpBus
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.dispatcher.bootstrap import build as build_dispatcher
from services.reporter.bootstrap import build as build_reporter
from services.worker.bootstrap import build as build_worker


@dataclass
class System:
    settings: Settings
    store: EventStore
    bus: AmqpBus  # a client's connection, for submitting and commanding


@contextlib.asynccontextmanager
async def running_system(database_url: str, amqp_url: str, smtp_url: str, **tuning: object) -> AsyncIterator[System]:
    settings = replace(
        Settings(),
        database_url=database_url,
        amqp_url=amqp_url,
        smtp_url=smtp_url,
        heartbeat_seconds=0.5,
        scan_seconds=0.5,
        retry_base_seconds=0.2,
        **tuning,  # type: ignore[arg-type]
    )
    EventStore.postgres(database_url, create_tables=True).migrate()
    services = [build_dispatcher(settings), build_worker(settings), build_reporter(settings)]
    for service in services:
        await service.start()
    client = AmqpBus(amqp_url)
    await client.connect()
    try:
        yield System(settings, EventStore.postgres(database_url), client)
    finally:
        await client.close()
        for service in reversed(services):
            await service.stop()
