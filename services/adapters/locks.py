"""Advisory locks and heartbeats: who runs what, and who is still alive (QUEUE-005, QUEUE-006).

A worker holds a session-level PostgreSQL advisory lock per (job, attempt) on its
own lock connection while the job runs. A dead worker's locks vanish with its
connection, which tells an orphaned job from a slow one; a live worker that
stops heartbeating is stuck. The embedded mode keeps the same facts in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

import orjson
import psycopg
from psycopg import sql
from psycopg.abc import Query

from services.adapters.logging import get_logger
from services.adapters.sql import WORKERS_TABLE

log = get_logger("batchq.locks")

LEADERSHIP_CHECK_SECONDS = 5.0
DISPATCHER_KEY = 0x62617463685F71  # "batch_q": one active dispatcher
RELAY_KEY = 0x62617463685F72  # one publishing relay


def job_lock_key(job_uuid: UUID, attempt: int) -> int:
    """A signed 64-bit key per (job, attempt): a new attempt never waits on an old one."""
    digest = hashlib.blake2b(job_uuid.bytes + attempt.to_bytes(4, "big"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class WorkerBeat:
    worker_id: str
    beat_at: datetime
    jobs: list[tuple[UUID, int]]


class Locks(Protocol):
    async def lead(self, key: int = DISPATCHER_KEY) -> None: ...
    async def lost(self) -> None: ...
    async def try_hold(self, claims: list[tuple[UUID, int]]) -> set[tuple[UUID, int]]: ...
    async def release(self, claims: list[tuple[UUID, int]]) -> None: ...
    async def held(self, keys: Iterable[tuple[UUID, int]]) -> set[tuple[UUID, int]]: ...
    async def beat(self, worker_id: str, jobs: list[tuple[UUID, int]], now: datetime) -> None: ...
    async def beats(self) -> list[WorkerBeat]: ...
    async def forget(self, worker_id: str) -> None: ...
    async def close(self) -> None: ...


class PostgresLocks:
    def __init__(self, url: str, schema: str = "public") -> None:
        self.url = url
        self.workers = sql.Identifier(schema, WORKERS_TABLE)
        self.connection: psycopg.AsyncConnection | None = None
        self.mutex = asyncio.Lock()

    async def _conn(self) -> psycopg.AsyncConnection:
        if self.connection is None or self.connection.closed:
            self.connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        return self.connection

    async def _fetch(self, query: Query, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        async with self.mutex:
            try:
                return await self._execute(query, params)
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                # The connection dropped, and with it every lock it held: the dispatcher
                # will fence those attempts as orphaned. Carry on with a new connection.
                log.warning("lock_connection_lost", reason=str(error).strip())
                if self.connection is not None:
                    await self.connection.close()
                self.connection = None
                return await self._execute(query, params)

    async def _execute(self, query: Query, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        conn = await self._conn()
        cursor = await conn.execute(query, params)
        return await cursor.fetchall() if cursor.description else []

    async def lead(self, key: int = DISPATCHER_KEY) -> None:
        """Wait until this process holds the leadership lock `key`, however long the database is away.

        The lock lives as long as its connection. When that drops, another process
        may take over at once, so `lost()` returns and the caller stops leading;
        it may then call `lead()` again to wait for the lock once more.
        """
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=5)
                while not await self._try_lock(conn, key):
                    await asyncio.sleep(1.0)
                break
            except psycopg.OperationalError as error:
                log.warning("leadership_wait_failed", reason=" ".join(str(error).split()), retry_in=1.0)
                await asyncio.sleep(1.0)
        self._leader_connection = conn
        self._leadership_lost = asyncio.Event()
        self._leader_watch = asyncio.create_task(self._watch_leadership(conn, self._leadership_lost))

    @staticmethod
    async def _try_lock(conn: psycopg.AsyncConnection, key: int) -> bool:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))).fetchone()
        return bool(row and row[0])

    async def lost(self) -> None:
        """Return when the leadership taken by the last `lead()` is gone (its connection dropped)."""
        await self._leadership_lost.wait()

    async def _watch_leadership(self, conn: psycopg.AsyncConnection, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(LEADERSHIP_CHECK_SECONDS)
            try:
                await asyncio.wait_for(conn.execute("SELECT 1"), timeout=LEADERSHIP_CHECK_SECONDS)
            except (psycopg.Error, TimeoutError) as error:
                log.error("leadership_lost", reason=" ".join(str(error).split()) or type(error).__name__)
                with contextlib.suppress(psycopg.Error):
                    await conn.close()
                lost.set()
                return

    async def try_hold(self, claims: list[tuple[UUID, int]]) -> set[tuple[UUID, int]]:
        """Take the locks of these claims that nobody holds; return the ones taken."""
        if not claims:
            return set()
        keys = [job_lock_key(j, a) for j, a in claims]
        rows = await self._fetch(
            "SELECT k.i, pg_try_advisory_lock(k.key) FROM unnest(%s::bigint[]) WITH ORDINALITY AS k(key, i)",
            (keys,),
        )
        return {claims[int(i) - 1] for i, taken in rows if taken}  # type: ignore[call-overload]

    async def release(self, claims: list[tuple[UUID, int]]) -> None:
        if claims:
            keys = [job_lock_key(j, a) for j, a in claims]
            await self._fetch("SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) AS k", (keys,))

    async def held(self, keys: Iterable[tuple[UUID, int]]) -> set[tuple[UUID, int]]:
        # pg_locks splits a bigint key into two oids; shifting them back in SQL
        # wraps to the same signed 64-bit value the key was taken with.
        wanted = {job_lock_key(j, a): (j, a) for j, a in keys}
        rows = await self._fetch(
            "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return {wanted[int(r[0])] for r in rows if int(r[0]) in wanted}  # type: ignore[call-overload]

    async def beat(self, worker_id: str, jobs: list[tuple[UUID, int]], now: datetime) -> None:
        await self._fetch(
            sql.SQL(
                "INSERT INTO {} (worker_id, beat_at, jobs) VALUES (%s, %s, %s) "
                "ON CONFLICT (worker_id) DO UPDATE SET beat_at = EXCLUDED.beat_at, jobs = EXCLUDED.jobs"
            ).format(self.workers),
            (worker_id, now, orjson.dumps([[str(j), a] for j, a in jobs]).decode()),
        )

    async def beats(self) -> list[WorkerBeat]:
        rows = await self._fetch(sql.SQL("SELECT worker_id, beat_at, jobs FROM {}").format(self.workers))
        return [
            WorkerBeat(str(r[0]), r[1], [(UUID(j), int(a)) for j, a in r[2]])  # type: ignore[arg-type, attr-defined]
            for r in rows
        ]

    async def forget(self, worker_id: str) -> None:
        await self._fetch(sql.SQL("DELETE FROM {} WHERE worker_id = %s").format(self.workers), (worker_id,))

    async def close(self) -> None:
        watch = getattr(self, "_leader_watch", None)
        if watch is not None:
            watch.cancel()
        if self.connection is not None:
            await self.connection.close()
        leader = getattr(self, "_leader_connection", None)
        if leader is not None:
            await leader.close()


@dataclass
class MemoryLocks:
    """The embedded mode's locks: one process, so a set and a dict will do."""

    holding: set[tuple[UUID, int]] = field(default_factory=set)
    workers: dict[str, WorkerBeat] = field(default_factory=dict)

    async def lead(self, key: int = DISPATCHER_KEY) -> None:
        return None

    async def lost(self) -> None:
        await asyncio.Event().wait()  # one process: leadership is never lost

    async def try_hold(self, claims: list[tuple[UUID, int]]) -> set[tuple[UUID, int]]:
        taken = {c for c in claims if c not in self.holding}
        self.holding |= taken
        return taken

    async def release(self, claims: list[tuple[UUID, int]]) -> None:
        self.holding -= set(claims)

    async def held(self, keys: Iterable[tuple[UUID, int]]) -> set[tuple[UUID, int]]:
        return {k for k in keys if k in self.holding}

    async def beat(self, worker_id: str, jobs: list[tuple[UUID, int]], now: datetime) -> None:
        self.workers[worker_id] = WorkerBeat(worker_id, now, list(jobs))

    async def beats(self) -> list[WorkerBeat]:
        return list(self.workers.values())

    async def forget(self, worker_id: str) -> None:
        self.workers.pop(worker_id, None)

    async def close(self) -> None:
        return None


def silent_for(beat: WorkerBeat, now: datetime) -> timedelta:
    return now - beat.beat_at.astimezone(UTC)
