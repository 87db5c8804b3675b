"""Running a service until SIGTERM or SIGINT, then stopping it gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Protocol


class Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def serve(service: Service, stopping: asyncio.Event | None = None) -> None:
    """Start, run until a stop signal, stop. A signal during start-up counts too.

    A standby dispatcher's `start` waits for the leadership lock, possibly for
    ever; a SIGTERM meanwhile must end it, not wait for a lock it no longer wants.
    A start that fails raises, without `stop` (nothing was started).
    """
    stopping = stopping or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    starting = asyncio.create_task(service.start())
    signalled = asyncio.create_task(stopping.wait())
    await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
    else:
        starting.result()  # a failed start raises here
    try:
        await signalled
    finally:
        await service.stop()
