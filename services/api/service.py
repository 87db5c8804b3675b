"""`batchq run api`: the composition root of the HTTP API, its projector and its alerts.

One process serves HTTP (uvicorn, on this event loop), keeps the read model up
to date (the projector; `batchq run projector` may do it instead, and two of them
take turns) and evaluates the alerts. The signals belong to `lifecycle.serve`,
so uvicorn is told not to install its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from services.adapters.amqp import AmqpBus
from services.adapters.logging import get_logger
from services.adapters.metrics import listen, split_addr
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.api import canary
from services.api.alerts import AlertEvaluator
from services.api.app import create_app
from services.api.context import Api
from services.api.queries import ReadModel
from services.api.tokens import Tokens
from services.projections.projector import Projector, follow

log = get_logger("batchq.api")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # lifecycle.serve handles SIGTERM and calls stop()


class ApiService:
    def __init__(self, settings: Settings, *, store: EventStore | None = None) -> None:
        store = store or EventStore.postgres(settings.database_url, schema=settings.database_schema)
        self.api = Api(
            settings,
            store,
            ReadModel(settings.database_url, settings.database_schema),
            Tokens(settings.database_url, settings.database_schema),
            AmqpBus(settings.amqp_url, queue_type=settings.queue_type),
        )
        self.projector = Projector(store, settings.database_url, settings.database_schema)
        host, port = split_addr(settings.http_addr)
        config = uvicorn.Config(
            create_app(self.api),
            host=host,
            port=port,
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self.server = _Server(config)
        self.stopping = self.api.stopping
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        sock = listen(self.api.settings.http_addr, "BATCHQ_HTTP_ADDR")  # first: a busy port is one line, no more
        await self.api.read_model.open()
        await self.api.bus.connect()
        self.tasks = [
            asyncio.create_task(follow(self.projector, self.stopping, self.api.settings.projection_interval_seconds)),
            asyncio.create_task(AlertEvaluator(self.api).run(self.stopping)),
            asyncio.create_task(canary.watch(self.api, self.stopping)),
        ]
        serving = asyncio.create_task(self.server.serve(sockets=[sock]))
        self.tasks.append(serving)
        while not self.server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        log.info("api_started", addr=self.api.settings.http_addr)

    async def stop(self) -> None:
        self.stopping.set()
        self.server.should_exit = True
        for task in self.tasks:
            with contextlib.suppress(Exception, SystemExit):
                await task
        await self.api.bus.close()
        await self.api.read_model.close()
        await asyncio.to_thread(self.projector.close)
        self.api.store.close()
        log.info("api_stopped")
