"""Version 2: the read model (services/projections) and the API's tokens.

The read model's tables are derived from the event log and can be dropped and
rebuilt from position 0 (`batchq projections rebuild`); the tokens are not
events, and a rollback of this version deletes them.
"""

from __future__ import annotations

from services.adapters.migrations.model import Migration

UP = """
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

DOWN = """
DROP TABLE IF EXISTS {schema}.batchq_api_tokens;
DROP TABLE IF EXISTS {schema}.batchq_rm_events;
DROP TABLE IF EXISTS {schema}.batchq_rm_job_counts;
DROP TABLE IF EXISTS {schema}.batchq_rm_jobs;
DROP TABLE IF EXISTS {schema}.batchq_rm_batches;
DROP TABLE IF EXISTS {schema}.batchq_rm_position;
"""

MIGRATION = Migration(2, "read model and API tokens", UP, DOWN)
