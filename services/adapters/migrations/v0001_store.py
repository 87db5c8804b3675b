"""Version 1: the event store as `batchq migrate` created it before versions existed.

The `eventsourcing` library's own tables, type and insert function (what its
PostgreSQL recorder creates with `CREATE_TABLE=y`, written out so that the
library never changes the schema behind our back), and batchq's relay and
worker tables. Every statement tolerates the object being there already: a
database prepared by the unversioned `batchq migrate` is adopted by running this
version on it, keeping every row.
"""

from __future__ import annotations

from services.adapters.migrations.model import Migration

UP = """
DO $$ BEGIN
    CREATE TYPE {schema}.stored_event_uuid AS
        (originator_id uuid, originator_version bigint, topic text, state bytea);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS {schema}.batchq_events (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
) WITH (
    autovacuum_enabled = true,
    autovacuum_vacuum_threshold = 100000000,
    autovacuum_vacuum_scale_factor = 0.5,
    autovacuum_analyze_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);

CREATE UNIQUE INDEX IF NOT EXISTS batchq_events_notification_id_idx
    ON {schema}.batchq_events (notification_id ASC);

CREATE OR REPLACE FUNCTION {schema}.es_insert_events_uuid(events {schema}.stored_event_uuid[])
RETURNS SETOF bigint LANGUAGE plpgsql AS
$BODY$
BEGIN
    SET LOCAL lock_timeout = '10s';
    NOTIFY "batchq_events";
    RETURN QUERY
    INSERT INTO {schema}.batchq_events AS t (originator_id, originator_version, topic, state)
    SELECT originator_id, originator_version, topic, state FROM unnest(events)
    RETURNING notification_id;
END;
$BODY$;

CREATE TABLE IF NOT EXISTS {schema}.batchq_relay (name text PRIMARY KEY, position bigint NOT NULL);

CREATE TABLE IF NOT EXISTS {schema}.batchq_workers (
    worker_id text PRIMARY KEY,
    beat_at timestamptz NOT NULL,
    jobs jsonb NOT NULL DEFAULT '[]'
);
"""

DOWN = """
DROP TABLE {schema}.batchq_workers;
DROP TABLE {schema}.batchq_relay;
DROP FUNCTION {schema}.es_insert_events_uuid({schema}.stored_event_uuid[]);
DROP TABLE {schema}.batchq_events;
DROP TYPE {schema}.stored_event_uuid;
"""

MIGRATION = Migration(1, "event store, relay and worker tables", UP, DOWN)
