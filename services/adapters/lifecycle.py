"""Running a service until SIGTERM or SIGINT, then stopping it gracefully."""

from __future__ import annotations

import asyncio
import signal
from typing import Protocol


class Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def serve(service: Service, stopping: asyncio.Event | None = None) -> None:
    stopping = stopping or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await service.start()
    try:
        await stopping.wait()
    finally:
        await service.stop()
