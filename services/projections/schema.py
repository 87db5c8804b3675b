"""The read model's tables, in one DDL string so that it can become one versioned migration.

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

DDL = """
CREATE TABLE IF NOT EXISTS {schema}.batchq_rm_position (
    name text PRIMARY KEY,
    position bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.batchq_rm_batches (
    batch_id uuid PRIMARY KEY,
    tenant text NOT NULL,
    user_id text NOT NULL,
    status text NOT NULL,
    pool text NOT NULL,
    job_count integer NOT NULL,
    submitted_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS batchq_rm_batches_tenant ON {schema}.batchq_rm_batches (tenant, submitted_at);
CREATE INDEX IF NOT EXISTS batchq_rm_batches_status ON {schema}.batchq_rm_batches (status, submitted_at);
CREATE TABLE IF NOT EXISTS {schema}.batchq_rm_jobs (
    job_uuid uuid PRIMARY KEY,
    batch_id uuid NOT NULL,
    tenant text NOT NULL,
    pool text NOT NULL,
    handler text NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL,
    progress double precision,
    error jsonb,
    pending_since timestamptz,
    started_at timestamptz,
    duration_seconds double precision,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS batchq_rm_jobs_batch ON {schema}.batchq_rm_jobs (batch_id);
CREATE INDEX IF NOT EXISTS batchq_rm_jobs_status ON {schema}.batchq_rm_jobs (status, pool);
CREATE TABLE IF NOT EXISTS {schema}.batchq_rm_job_counts (
    tenant text NOT NULL,
    status text NOT NULL,
    jobs bigint NOT NULL,
    PRIMARY KEY (tenant, status)
);
CREATE TABLE IF NOT EXISTS {schema}.batchq_rm_events (
    position bigint PRIMARY KEY,
    aggregate_id uuid NOT NULL,
    aggregate_type text NOT NULL,
    batch_id uuid,
    type text NOT NULL,
    tenant text NOT NULL,
    occurred_at timestamptz NOT NULL,
    error_code text
);
CREATE INDEX IF NOT EXISTS batchq_rm_events_aggregate ON {schema}.batchq_rm_events (aggregate_id, position);
CREATE INDEX IF NOT EXISTS batchq_rm_events_batch ON {schema}.batchq_rm_events (batch_id, position);
CREATE INDEX IF NOT EXISTS batchq_rm_events_outcomes ON {schema}.batchq_rm_events (type, occurred_at);
CREATE TABLE IF NOT EXISTS {schema}.batchq_api_tokens (
    token_id text PRIMARY KEY,
    principal text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
"""


def qualified(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(schema, table)


def create_tables(url: str, schema: str) -> None:
    """What `batchq migrate` calls: every read-model table, idempotently."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL(DDL).format(schema=sql.Identifier(schema)))  # type: ignore[arg-type]


def empty_derived(conn: psycopg.Connection[Any], schema: str) -> None:
    """Empty the tables a rebuild refills, position included (in the caller's transaction)."""
    tables = sql.SQL(", ").join(sql.Identifier(schema, table) for table in DERIVED)
    conn.execute(sql.SQL("TRUNCATE {}").format(tables))
