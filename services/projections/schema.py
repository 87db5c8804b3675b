"""The read model's tables: their names, and emptying them for a rebuild (created by migration 2).

Every name is qualified by `{schema}` (BATCHQ_DATABASE_SCHEMA), filled in as a quoted
identifier, so the search path never decides where the read model lives. The tables
are derived data: `drop()` and a rebuild from position 0 give them back.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

TABLES = (
    "batchq_rm_position",
    "batchq_rm_batches",
    "batchq_rm_jobs",
    "batchq_rm_job_counts",
    "batchq_rm_events",
    "batchq_api_tokens",
)
# Derived from events, so dropped by a rebuild; tokens are not events and survive it.
DERIVED = TABLES[:5]



def qualified(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def empty_derived(conn: psycopg.Connection[Any], schema: str) -> None:
    """Empty the tables a rebuild refills, position included (in the caller's transaction)."""
    tables = sql.SQL(", ").join(sql.Identifier(schema, table) for table in DERIVED)
    conn.execute(sql.SQL("TRUNCATE {}").format(tables))
