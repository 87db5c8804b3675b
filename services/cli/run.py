"""`batchq run <service>`: build one service from the environment and serve it."""

from __future__ import annotations

import asyncio

from services.adapters.lifecycle import serve
from services.adapters.settings import Settings


def main(service: str, settings: Settings) -> int:
    if service == "dispatcher":
        from services.dispatcher.bootstrap import build as build_dispatcher

        asyncio.run(serve(build_dispatcher(settings)))
    elif service == "worker":
        from services.worker.bootstrap import build as build_worker

        asyncio.run(serve(build_worker(settings)))
    else:
        from services.reporter.bootstrap import build as build_reporter

        asyncio.run(serve(build_reporter(settings)))
    return 0
