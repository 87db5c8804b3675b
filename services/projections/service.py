"""`batchq run projector`: the projector on its own, for when the API runs elsewhere or not at all."""

from __future__ import annotations

import asyncio
import contextlib

from services.adapters.logging import get_logger
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.projections.projector import Projector, follow

log = get_logger("batchq.projector")


class ProjectorService:
    def __init__(self, settings: Settings, store: EventStore | None = None) -> None:
        store = store or EventStore.postgres(settings.database_url, schema=settings.database_schema)
        self.store = store
        self.projector = Projector(store, settings.database_url, settings.database_schema)
        self.interval = settings.projection_interval_seconds
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(follow(self.projector, self.stopping, self.interval))
        log.info("projector_started")

    async def stop(self) -> None:
        self.stopping.set()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task
        await asyncio.to_thread(self.projector.close)
        self.store.close()
        log.info("projector_stopped")
