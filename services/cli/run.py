"""`batchq run <service>`: build one service from the environment and serve it."""

from __future__ import annotations

import asyncio
import sys
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
    from services.adapters.metrics import AddressUnavailableError, with_metrics

    built = build(service, settings)
    if settings.metrics_addr and service != "api":
        built = with_metrics(built, service, settings)
    try:
        asyncio.run(serve(built))
    except AddressUnavailableError as error:
        print(f"batchq: {error}", file=sys.stderr)
        return 1
    return 0
