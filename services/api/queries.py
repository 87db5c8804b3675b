"""What the API reads from the read model (services/projections): lists, lags, and the metrics snapshot.

Async psycopg on a small pool, so no request blocks the event loop. Every table
is named by its schema-qualified identifier (BATCHQ_DATABASE_SCHEMA).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from domain.personal import ERASED
from domain.states import SETTLED_JOB_STATES
from services.adapters.settings import AlertSettings

SETTLED = frozenset(s.value for s in SETTLED_JOB_STATES)
DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class BatchFilter:
    tenant: str | None = None
    tenants: frozenset[str] | None = None  # those the asker may read; None: every tenant
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


@dataclass
class Snapshot:
    """The read model's numbers at one moment: what `/metrics` shows and alerts judge."""

    jobs: list[tuple[str, str, int]] = field(default_factory=list)  # tenant, status, jobs
    batches: list[tuple[str, str, int]] = field(default_factory=list)  # tenant, status, batches
    pending_by_pool: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: float = 0.0
    stuck_jobs: int = 0
    failures_by_code: dict[str, int] = field(default_factory=dict)
    window_failed: int = 0
    window_completed: int = 0
    abandoned_jobs: int = 0
    durations: list[tuple[float, int]] = field(default_factory=list)  # cumulative (le, count)
    duration_sum: float = 0.0
    duration_count: int = 0
    relay_lag: int = 0
    projection_lag: int = 0


class ReadModel:
    def __init__(self, url: str, schema: str) -> None:
        self.pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=4,
            open=False,
            check=AsyncConnectionPool.check_connection,  # a database restart leaves dead connections
            kwargs={"row_factory": dict_row, "autocommit": True},
        )
        self.schema = schema

    def t(self, table: str) -> sql.Identifier:
        return sql.Identifier(self.schema, table)

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def rows(self, query: sql.Composable, params: Any = ()) -> list[dict[str, Any]]:
        async with self.pool.connection(timeout=5) as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def batches(self, where: BatchFilter) -> list[dict[str, Any]]:
        """A page of batches, newest first, each with its job counts by state."""
        conditions, params = [sql.SQL("TRUE")], []
        for column, op, value in (
            ("tenant", "=", where.tenant),
            ("tenant", "= ANY", None if where.tenants is None else sorted(where.tenants)),
            ("status", "=", where.status),
            ("submitted_at", ">=", where.since),
            ("submitted_at", "<", where.until),
        ):
            if value is not None:
                placeholder = "(%s)" if op.endswith("ANY") else "%s"
                conditions.append(sql.SQL("b.{} " + op + " " + placeholder).format(sql.Identifier(column)))
                params.append(value)
        # The depositor's id lives only in the key table (QUEUE-022): shown from there, "[erased]" once shredded.
        query = sql.SQL(
            "SELECT b.*, coalesce(k.user_id, %s) AS user_id FROM {} b LEFT JOIN {} k"
            " ON k.subject_ref = b.user_ref AND k.scope = b.batch_id"
            " WHERE {} ORDER BY submitted_at DESC, batch_id LIMIT %s OFFSET %s"
        ).format(self.t("batchq_rm_batches"), self.t("batchq_personal_keys"), sql.SQL(" AND ").join(conditions))
        params.insert(0, ERASED)
        found = await self.rows(query, [*params, where.limit, where.offset])
        counts = await self.job_counts([row["batch_id"] for row in found])
        return [batch_row(row, counts.get(row["batch_id"], {})) for row in found]

    async def job_counts(self, batch_ids: list[UUID]) -> dict[UUID, dict[str, int]]:
        query = sql.SQL("SELECT batch_id, status, count(*) AS n FROM {} WHERE batch_id = ANY(%s) GROUP BY 1, 2").format(
            self.t("batchq_rm_jobs")
        )
        counts: dict[UUID, dict[str, int]] = {}
        for row in await self.rows(query, (batch_ids,)):
            counts.setdefault(row["batch_id"], {})[row["status"]] = row["n"]
        return counts

    async def batch_changes(self, batch_id: UUID, after: int) -> dict[str, Any] | None:
        """The batch's state and job counts, and its jobs whose rows changed after position `after`
        (each row keeps the position of its last change): what a live page needs, in three indexed reads."""
        found = await self.rows(
            sql.SQL("SELECT status, job_count FROM {} WHERE batch_id = %s").format(self.t("batchq_rm_batches")),
            (batch_id,),
        )
        if not found:
            return None
        jobs = await self.rows(
            sql.SQL(
                "SELECT job_uuid, status, attempts, progress, error, position FROM {}"
                " WHERE batch_id = %s AND position > %s ORDER BY position"
            ).format(self.t("batchq_rm_jobs")),
            (batch_id, after),
        )
        counts = (await self.job_counts([batch_id])).get(batch_id, {})
        return {
            "status": found[0]["status"],
            "total": found[0]["job_count"],
            "settled": sum(n for status, n in counts.items() if status in SETTLED),
            "jobs": [{**row, "job_uuid": str(row["job_uuid"])} for row in jobs],
            "position": jobs[-1]["position"] if jobs else after,
        }

    async def batch_events_since(self, batch_id: UUID, position: int) -> list[dict[str, Any]]:
        """The index rows of a batch's events after `position` (the dashboard's live timeline)."""
        query = sql.SQL(
            "SELECT position, type, aggregate_type, aggregate_id, occurred_at, error_code FROM {}"
            " WHERE batch_id = %s AND position > %s ORDER BY position"
        ).format(self.t("batchq_rm_events"))
        return await self.rows(query, (batch_id, position))

    async def lags(self) -> tuple[int, int]:
        """(relay lag, projection lag) in events."""
        query = sql.SQL(
            "SELECT (SELECT coalesce(max(notification_id), 0) FROM {}) AS last,"
            " (SELECT coalesce(max(position), 0) FROM {} WHERE name = 'relay') AS relay,"
            " (SELECT coalesce(max(position), 0) FROM {} WHERE name = 'read_model') AS projected"
        ).format(self.t("batchq_events"), self.t("batchq_relay"), self.t("batchq_rm_position"))
        [row] = await self.rows(query)
        return row["last"] - row["relay"], row["last"] - row["projected"]

    async def snapshot(self, now: datetime, alerts: AlertSettings) -> Snapshot:
        snap = Snapshot()
        snap.jobs = [
            (r["tenant"], r["status"], r["jobs"])
            for r in await self.rows(
                sql.SQL("SELECT tenant, status, jobs FROM {}").format(self.t("batchq_rm_job_counts"))
            )
        ]
        snap.batches = [
            (r["tenant"], r["status"], r["n"])
            for r in await self.rows(
                sql.SQL("SELECT tenant, status, count(*) AS n FROM {} GROUP BY 1, 2").format(
                    self.t("batchq_rm_batches")
                )
            )
        ]
        await self._pending(snap, now, alerts)
        await self._outcomes(snap, now, alerts)
        await self._durations(snap)
        snap.relay_lag, snap.projection_lag = await self.lags()
        return snap

    async def _pending(self, snap: Snapshot, now: datetime, alerts: AlertSettings) -> None:
        jobs = self.t("batchq_rm_jobs")
        rows = await self.rows(
            sql.SQL(
                "SELECT pool, count(*) AS n, min(pending_since) AS oldest FROM {} WHERE status = 'PENDING' GROUP BY 1"
            ).format(jobs)
        )
        snap.pending_by_pool = {r["pool"]: r["n"] for r in rows}
        oldest = min((r["oldest"] for r in rows if r["oldest"] is not None), default=None)
        snap.oldest_pending_seconds = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        stuck_before = now - timedelta(seconds=alerts.stuck_seconds)
        [row] = await self.rows(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE status = 'PROCESSING' AND started_at < %s) AS stuck,"
                " count(*) FILTER (WHERE status = 'ABANDONED' AND batch_id NOT IN"
                " (SELECT batch_id FROM {} WHERE status = 'DELETED')) AS abandoned FROM {}"
            ).format(self.t("batchq_rm_batches"), jobs),
            (stuck_before,),
        )
        snap.stuck_jobs, snap.abandoned_jobs = row["stuck"], row["abandoned"]

    async def _outcomes(self, snap: Snapshot, now: datetime, alerts: AlertSettings) -> None:
        events = self.t("batchq_rm_events")
        rows = await self.rows(
            sql.SQL("SELECT error_code, count(*) AS n FROM {} WHERE type = 'JobFailed' GROUP BY 1").format(events)
        )
        snap.failures_by_code = {r["error_code"] or "": r["n"] for r in rows}
        [row] = await self.rows(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE type = 'JobFailed') AS failed,"
                " count(*) FILTER (WHERE type = 'JobCompleted') AS completed FROM {}"
                " WHERE type IN ('JobFailed', 'JobCompleted') AND occurred_at > %s"
            ).format(events),
            (now - timedelta(seconds=alerts.failure_window_seconds),),
        )
        snap.window_failed, snap.window_completed = row["failed"], row["completed"]

    async def _durations(self, snap: Snapshot) -> None:
        buckets = sql.SQL(", ").join(
            sql.SQL("count(*) FILTER (WHERE duration_seconds <= {}) AS {}").format(
                sql.Literal(le), sql.Identifier(f"le{i}")
            )
            for i, le in enumerate(DURATION_BUCKETS)
        )
        [row] = await self.rows(
            sql.SQL(
                "SELECT {}, count(duration_seconds) AS n, coalesce(sum(duration_seconds), 0) AS total FROM {}"
            ).format(buckets, self.t("batchq_rm_jobs"))
        )
        snap.durations = [(le, row[f"le{i}"]) for i, le in enumerate(DURATION_BUCKETS)]
        snap.duration_count, snap.duration_sum = row["n"], float(row["total"])


def batch_row(row: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    settled = sum(n for status, n in counts.items() if status in SETTLED)
    return {
        "batch_id": str(row["batch_id"]),
        "tenant": row["tenant"],
        "user_id": row["user_id"],
        "status": row["status"],
        "pool": row["pool"],
        "job_count": row["job_count"],
        "jobs_by_status": counts,
        "settled": settled,
        "submitted_at": row["submitted_at"],
        "updated_at": row["updated_at"],
    }
