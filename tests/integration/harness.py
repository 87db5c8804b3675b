"""The three services in the test's own event loop, on the real servers.

For tests that need to look inside a running system (the broker's view of a
delivery, say) without spawning processes; `tests/e2e` runs real processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from services.adapters.amqp import AmqpBus
from services.adapters.settings import Settings, principal_of
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
    settings = Settings().model_copy(
        update={
            "database_url": database_url,
            "amqp_url": amqp_url,
            "smtp_url": smtp_url,
            "heartbeat_seconds": 0.5,
            "scan_seconds": 0.5,
            "retry_base_seconds": 0.2,
            **tuning,
        }
    )
    migrated = EventStore.postgres(database_url, schema=settings.database_schema, create_tables=True)
    migrated.migrate()
    migrated.ensure_first_operator(principal_of(amqp_url), datetime.now(UTC))
    services = [build_dispatcher(settings), build_worker(settings), build_reporter(settings)]
    for service in services:
        await service.start()
    client = AmqpBus(amqp_url)
    await client.connect()
    try:
        yield System(settings, EventStore.postgres(database_url, schema=settings.database_schema), client)
    finally:
        await client.close()
        for service in reversed(services):
            await service.stop()


def tables_by_schema(database_url: str) -> dict[str, set[str]]:
    """The batchq tables of the database, by the schema they are in."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE 'batchq%%'"
        ).fetchall()
    found: dict[str, set[str]] = {}
    for schema, table in rows:
        found.setdefault(schema, set()).add(table)
    return found
