"""Health checks every process shares: can it reach PostgreSQL and RabbitMQ, are batchq's tables there.

Each check opens a fresh connection with a short timeout rather than asking a
pool, so `/health` says what a new connection would meet now (a pool may hold a
connection to a database that no longer accepts new ones). Checks never raise:
a failure is a `Check` with `ok=False` and a one-line reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import psycopg
from psycopg import sql

from domain.base import SCHEMA_VERSION
from services.adapters.migrations import MIGRATIONS
from services.adapters.migrator import MIGRATIONS_TABLE

TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: Mapping[str, Any] = field(default_factory=dict)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


async def database(url: str, schema: str, tables: Iterable[str]) -> list[Check]:
    """`database` (a new connection answers) and `schema_version` (the store's, which must be this code's)."""
    try:
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=int(TIMEOUT_SECONDS)) as conn:
            cursor = await conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
            )
            present = {row[0] for row in await cursor.fetchall()}
            store_version = await _store_version(conn, schema) if MIGRATIONS_TABLE in present else 0
    except (psycopg.Error, OSError) as error:
        reason = _one_line(error)
        return [
            Check("database", False, {"reason": reason}),
            Check("schema_version", False, {"reason": "database unreachable"}),
        ]
    missing = sorted(set(tables) - present)
    code_version = MIGRATIONS[-1].version
    versions = {"store": store_version, "code": code_version, "schema": schema, "events": SCHEMA_VERSION}
    schema_check = Check("schema_version", not missing and store_version == code_version, versions)
    if missing or store_version != code_version:
        reason = f"the store is at schema version {store_version}, this code's is {code_version}; run batchq migrate"
        schema_check = Check("schema_version", False, {**versions, "reason": reason})
    return [Check("database", True), schema_check]


async def _store_version(conn: psycopg.AsyncConnection[Any], schema: str) -> int:
    query = sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(sql.Identifier(schema, MIGRATIONS_TABLE))
    row = await (await conn.execute(query)).fetchone()
    return int(row[0]) if row else 0


async def broker(url: str) -> Check:
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url, timeout=TIMEOUT_SECONDS), TIMEOUT_SECONDS + 1)
    except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as error:
        return Check("broker", False, {"reason": _one_line(error)})
    await connection.close()
    return Check("broker", True)


def consumers(bus: Any) -> Check:
    """This process's consumers: its broker connection is open (a robust connection that is
    reconnecting has none), and the queues it consumes. A standby dispatcher consumes none, so
    the list is shown, not judged."""
    connection = getattr(bus, "connection", None)
    queues = sorted(getattr(bus, "consumers", {}))
    is_open = connection is not None and not connection.is_closed
    detail: dict[str, Any] = {"queues": queues}
    if not is_open:
        detail["reason"] = "not connected to the broker"
    return Check("consumers", is_open, detail)


def document(checks: Iterable[Check]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when every check passes, else 503 naming each failing one."""
    checks = list(checks)
    failing = [c.name for c in checks if not c.ok]
    body: dict[str, Any] = {
        "status": "failing" if failing else "ok",
        "checks": {c.name: {"ok": c.ok, **c.detail} for c in checks},
    }
    if failing:
        body["failing"] = failing
    return (503 if failing else 200), body
