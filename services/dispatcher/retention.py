"""The retention sweep (QUEUE-022): the leader erases the personal data of batches past their retention.

The read model says which ended batches asked for a retention that may have
passed (an indexed query, whatever the number of batches); the store decides
(`domain.retention`), so a lagging read model delays an expiry but never makes
one early. Only on PostgreSQL: the embedded store has no read model, and says so
in the README.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from domain.states import FINAL_BATCH_STATES
from services.adapters.logging import get_logger
from services.adapters.settings import Settings

log = get_logger("batchq.dispatcher")

PAGE = 500
Expire = Callable[[list[UUID], datetime], Awaitable[list[UUID]]]


class RetentionSweep:
    def __init__(self, settings: Settings, expire: Expire, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.expire = expire
        self.clock = clock
        self.query = sql.SQL(
            "SELECT batch_id FROM {} WHERE retention_days IS NOT NULL AND NOT personal_data_expired"
            " AND status = ANY(%s) AND updated_at + retention_days * interval '1 day' <= %s"
            " ORDER BY updated_at LIMIT %s"
        ).format(sql.Identifier(settings.database_schema, "batchq_rm_batches"))

    def candidates(self, now: datetime) -> list[UUID]:
        with psycopg.connect(self.settings.database_url, connect_timeout=5) as conn:
            rows: list[Any] = conn.execute(self.query, ([s.value for s in FINAL_BATCH_STATES], now, PAGE)).fetchall()
        return [row[0] for row in rows]

    async def sweep(self) -> list[UUID]:
        now = self.clock()
        candidates = await asyncio.to_thread(self.candidates, now)
        return await self.expire(candidates, now) if candidates else []

    async def forever(self, leading: asyncio.Event) -> None:
        if self.settings.database_url.startswith("sqlite:"):
            return
        while leading.is_set():
            try:
                await self.sweep()
            except Exception:  # a database outage is the next round's problem, not the dispatcher's end
                log.exception("retention_sweep_failed")
            await asyncio.sleep(self.settings.retention_sweep_seconds)
