"""The read model's tables as the tests read them: whole-table dumps and waiting for the projector."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

ORDERED = {
    "batchq_rm_position": "name",
    "batchq_rm_batches": "batch_id",
    "batchq_rm_jobs": "job_uuid",
    "batchq_rm_job_counts": "tenant, status",
    "batchq_rm_events": "position",
}


def dump(database_url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()  # type: ignore[arg-type]
            for table, order in ORDERED.items()
        }


def positions(database_url: str) -> tuple[int, int]:
    """(the projection's position, the store's last position)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(max(position), 0) FROM batchq_rm_position),"
            " (SELECT coalesce(max(notification_id), 0) FROM batchq_events)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def wait_caught_up(database_url: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        projected, stored = positions(database_url)
        if projected == stored:
            return projected
        if time.monotonic() > deadline:
            raise AssertionError(f"the projection stayed at {projected}, the store is at {stored}")
        time.sleep(0.2)
