"""Version 3: personal data under keys per depositor and batch (QUEUE-022, crypto-shredding).

The key table and the installation's secret (the HMAC key of `subject_ref`); the
read model loses its plain `user_id` for the keyed hash and learns retention.
The read model is derived, so it is emptied here and rebuilt from the log by the
projector (`batchq projections rebuild`, or on its next start).

Rolling back is refused while a key exists: dropping the key table would make
every sealed event unreadable at once, an erasure of everyone.
"""

from __future__ import annotations

from services.adapters.migrations.model import Migration

UP = """
CREATE TABLE {schema}.batchq_secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE {schema}.batchq_personal_keys (
    subject_ref text NOT NULL,
    scope uuid NOT NULL,
    user_id text,
    key bytea,
    created_at timestamptz NOT NULL,
    shredded_at timestamptz,
    PRIMARY KEY (subject_ref, scope)
);
TRUNCATE {schema}.batchq_rm_batches, {schema}.batchq_rm_jobs, {schema}.batchq_rm_job_counts,
    {schema}.batchq_rm_events, {schema}.batchq_rm_position;
ALTER TABLE {schema}.batchq_rm_batches DROP COLUMN user_id;
ALTER TABLE {schema}.batchq_rm_batches ADD COLUMN user_ref text;
ALTER TABLE {schema}.batchq_rm_batches ADD COLUMN retention_days double precision;
ALTER TABLE {schema}.batchq_rm_batches ADD COLUMN personal_data_expired boolean NOT NULL DEFAULT false;
CREATE INDEX batchq_rm_batches_user_ref ON {schema}.batchq_rm_batches (user_ref);
CREATE INDEX batchq_rm_batches_retention ON {schema}.batchq_rm_batches (updated_at)
    WHERE retention_days IS NOT NULL AND NOT personal_data_expired;
"""

DOWN = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM {schema}.batchq_personal_keys WHERE key IS NOT NULL) THEN
        RAISE EXCEPTION 'cannot roll back below version 3: personal data is sealed under the keys of '
            'batchq_personal_keys, and dropping them would erase every depositor';
    END IF;
END $$;
TRUNCATE {schema}.batchq_rm_batches, {schema}.batchq_rm_jobs, {schema}.batchq_rm_job_counts,
    {schema}.batchq_rm_events, {schema}.batchq_rm_position;
DROP INDEX {schema}.batchq_rm_batches_retention;
DROP INDEX {schema}.batchq_rm_batches_user_ref;
ALTER TABLE {schema}.batchq_rm_batches DROP COLUMN personal_data_expired;
ALTER TABLE {schema}.batchq_rm_batches DROP COLUMN retention_days;
ALTER TABLE {schema}.batchq_rm_batches DROP COLUMN user_ref;
ALTER TABLE {schema}.batchq_rm_batches ADD COLUMN user_id text NOT NULL;
DROP TABLE {schema}.batchq_personal_keys;
DROP TABLE {schema}.batchq_secrets;
"""

MIGRATION = Migration(3, "personal data keys, and the read model by keyed hash", UP, DOWN)
