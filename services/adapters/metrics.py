"""A process's own metrics, and the tiny HTTP server that serves them with `/health`.

`batchq run dispatcher|worker|reporter` serve `/health` and `/metrics` on
`BATCHQ_METRICS_ADDR` when it is set. A few lines of asyncio rather than
prometheus-client's threaded server: `/health` needs the event loop (its checks
are async), and one more thread per process buys nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from services.adapters import health
from services.adapters.logging import get_logger
from services.adapters.settings import Settings
from services.adapters.setup_errors import SetupError

log = get_logger("batchq.metrics")

MESSAGES_REFUSED = Counter("batchq_messages_refused", "Messages refused by this process, by error code", ["code"])
ALERT_FIRING = Gauge("batchq_alert_firing", "1 while an alert fires", ["alert", "subject"])
EVENT_STORE_TABLES = ("batchq_events", "batchq_relay")


class AddressUnavailableError(SetupError):
    """An HTTP address batchq was told to serve on cannot be bound: one line naming the variable."""

    def __init__(self, variable: str, addr: str, cause: OSError) -> None:
        super().__init__(f"cannot serve HTTP on {addr} ({variable}): {cause.strerror or cause}")


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host or "127.0.0.1", int(port)


def listen(addr: str, variable: str) -> socket.socket:
    """A listening socket on `addr`, bound before any server starts, so a busy port is one clear error."""
    try:
        return socket.create_server(split_addr(addr))
    except OSError as error:
        raise AddressUnavailableError(variable, addr, error) from None


async def service_health(settings: Settings, service: Any) -> tuple[int, dict[str, Any]]:
    checks = await health.database(settings.database_url, settings.database_schema, EVENT_STORE_TABLES)
    checks.append(await health.broker(settings.amqp_url))
    if getattr(service, "bus", None) is not None:
        checks.append(health.consumers(service.bus))
    return health.document(checks)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, settings: Settings, service: Any) -> None:
    with contextlib.suppress(Exception):
        request = await asyncio.wait_for(reader.readline(), 10)
        while (await reader.readline()).strip():
            pass  # headers: not needed
        path = request.split(b" ")[1].split(b"?")[0] if b" " in request else b""
        if path == b"/metrics":
            status, body, kind = 200, generate_latest(), CONTENT_TYPE_LATEST
        elif path == b"/health":
            status, doc = await service_health(settings, service)
            body, kind = orjson.dumps(doc), "application/json"
        else:
            status, body, kind = 404, b'{"error":{"code":"NOT_FOUND","reason":"no such path"}}', "application/json"
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
        await writer.drain()
    writer.close()


class WithMetrics:
    """A service, plus its `/health` and `/metrics` server for as long as it runs."""

    def __init__(self, service: Any, name: str, settings: Settings) -> None:
        self.service = service
        self.name = name
        self.settings = settings
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        sock = listen(self.settings.metrics_addr, "BATCHQ_METRICS_ADDR")
        self.server = await asyncio.start_server(lambda r, w: _handle(r, w, self.settings, self.service), sock=sock)
        log.info("metrics_serving", service=self.name, addr=self.settings.metrics_addr)
        await self.service.start()

    async def stop(self) -> None:
        try:
            await self.service.stop()
        finally:
            if self.server is not None:
                self.server.close()


def with_metrics(service: Any, name: str, settings: Settings) -> WithMetrics:
    return WithMetrics(service, name, settings)
