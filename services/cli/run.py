"""`batchq run <service>`: build one service from the environment and serve it."""

from __future__ import annotations

import asyncio
from typing import Any

from services.adapters.lifecycle import serve
from services.adapters.settings import Settings


def build(service: str, settings: Settings) -> Any:
    if service == "dispatcher":
        from services.dispatcher.bootstrap import build as build_dispatcher

        return build_dispatcher(settings)
    if service == "worker":
        from services.worker.bootstrap import build as build_worker

        return build_worker(settings)
    if service == "reporter":
        from services.reporter.bootstrap import build as build_reporter

        return build_reporter(settings)
    if service == "api":
        from services.api.service import ApiService

        return ApiService(settings)
    from services.projections.service import ProjectorService

    return ProjectorService(settings)


def main(service: str, settings: Settings) -> int:
    built = build(service, settings)
    if settings.metrics_addr and service != "api":
        from services.adapters.metrics import with_metrics

        built = with_metrics(built, service, settings)
    asyncio.run(serve(built))
    return 0
