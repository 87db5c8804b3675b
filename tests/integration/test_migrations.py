"""Versioned migrations on the real PostgreSQL: dry runs change nothing, `--to` round-trips, a kill
midway leaves the previous version, and a database from before versions is adopted with its rows.

"Nothing changed" is a `pg_dump --schema-only` compared before and after, plus the rows of
`batchq_migrations`. Extra migrations (a table, a slow step) are test-only versions 2 and 3.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from domain.submission import BatchDraft, JobDraft, create_batch
from services.adapters.keyring import KeyRing, Unattached
from services.adapters.migrations import MIGRATIONS, Migration
from services.adapters.migrator import (
    ForeignVersionError,
    MigrationFailedError,
    Migrator,
    NotMigratedError,
    UnknownVersionError,
)
from services.adapters.sealing import Sealer
from services.adapters.sql import PostgresDialect
from services.adapters.store import BatchqApplication, EventStore, _postgres_env
from tests.e2e.processes import REPO

pytestmark = pytest.mark.integration

SCHEMA = "batchq_mig"
HEAD = MIGRATIONS[-1].version  # this code's schema version
NEXT = HEAD + 1  # a test's own migration, after this code's
CODE_VERSIONS = [(m.version, m.name) for m in MIGRATIONS]
NOTES = Migration(
    NEXT,
    "notes table (test only)",
    "CREATE TABLE {schema}.notes (note_id bigserial PRIMARY KEY, body text NOT NULL);"
    "CREATE INDEX notes_body_idx ON {schema}.notes (body);",
    "DROP TABLE {schema}.notes;",
)
WITH_NOTES = (*MIGRATIONS, NOTES)


def schema_dump(url: str) -> str:
    """The whole database's schema as `pg_dump` prints it, minus comments and per-run tokens."""
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", url], check=True, capture_output=True, text=True
    ).stdout
    kept = [line for line in dump.splitlines() if line and not line.startswith(("--", "\\restrict", "\\unrestrict"))]
    return "\n".join(kept)


def versions(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        query = f"SELECT version, name FROM {SCHEMA}.batchq_migrations ORDER BY version"
        return [(int(v), str(n)) for v, n in conn.execute(query).fetchall()]  # type: ignore[arg-type]


def test_a_dry_run_on_an_empty_database_changes_nothing(database_url: str) -> None:
    before = schema_dump(database_url)

    steps = Migrator(database_url, SCHEMA).run("tester", dry_run=True)

    assert [str(step) for step in steps] == [f"up {m.version}: {m.name}" for m in MIGRATIONS]
    assert schema_dump(database_url) == before  # not even the schema or batchq_migrations


def test_a_dry_run_on_an_up_to_date_database_changes_nothing(database_url: str) -> None:
    Migrator(database_url, SCHEMA).run("tester")
    before, applied = schema_dump(database_url), versions(database_url)

    nothing = Migrator(database_url, SCHEMA).run("tester", dry_run=True)
    pending = Migrator(database_url, SCHEMA, WITH_NOTES).run("tester", dry_run=True)

    assert nothing == []
    assert [step.migration.version for step in pending] == [NEXT]
    assert schema_dump(database_url) == before
    assert versions(database_url) == applied


def test_down_and_up_again_round_trips_to_an_equal_schema(database_url: str) -> None:
    migrator = Migrator(database_url, SCHEMA, WITH_NOTES)
    migrator.run("tester")
    at_head = schema_dump(database_url)

    migrator.run("tester", HEAD)
    at_code = schema_dump(database_url)
    migrator.run("tester", 0)
    at_zero = migrator.status()
    migrator.run("tester", NEXT)

    assert "notes" not in at_code and "batchq_events" in at_code
    assert at_zero.version == 0 and [m.version for m in at_zero.pending] == list(range(1, NEXT + 1))
    assert schema_dump(database_url) == at_head
    assert versions(database_url) == [*CODE_VERSIONS, (NEXT, NOTES.name)]


def test_every_applied_version_names_when_and_by_whom(database_url: str) -> None:
    Migrator(database_url, SCHEMA, WITH_NOTES).run("ops-alice")

    status = Migrator(database_url, SCHEMA, WITH_NOTES).status()

    assert [(a.version, a.applied_by) for a in status.applied] == [(v, "ops-alice") for v in range(1, NEXT + 1)]
    assert all(abs((datetime.now(UTC) - a.applied_at).total_seconds()) < 60 for a in status.applied)


def test_a_target_that_does_not_exist_is_refused(database_url: str) -> None:
    with pytest.raises(UnknownVersionError, match="no schema version 7"):
        Migrator(database_url, SCHEMA).run("tester", 7)


def test_a_failing_step_is_rolled_back_and_named(database_url: str) -> None:
    broken = Migration(NEXT, "broken", "CREATE TABLE {schema}.half (x int); SELECT no_such_function();", "")

    with pytest.raises(MigrationFailedError, match=f"up {NEXT}: broken"):
        Migrator(database_url, SCHEMA, (*MIGRATIONS, broken)).run("tester")

    assert versions(database_url) == CODE_VERSIONS
    assert "half" not in schema_dump(database_url)


SLOW_RUN = """
import sys
from services.adapters.migrations import MIGRATIONS, Migration
from services.adapters.migrator import Migrator
up = "CREATE TABLE {schema}.slow (x int); SELECT pg_sleep(4);"
slow = Migration(MIGRATIONS[-1].version + 1, "slow", up, "DROP TABLE {schema}.slow;")
Migrator(sys.argv[1], sys.argv[2], (*MIGRATIONS, slow)).run("killed")
"""


def _wait_for_sleep(url: str, timeout: float = 30) -> None:
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            query = "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND query LIKE %s AND pid <> pg_backend_pid()"
            if conn.execute(query, (dbname, "%pg_sleep(4)%")).fetchone():
                return
            time.sleep(0.05)
    raise AssertionError("the slow migration never started")


def test_a_migration_killed_midway_leaves_the_previous_version_and_a_second_run_completes_it(
    database_url: str,
) -> None:
    Migrator(database_url, SCHEMA).run("tester")
    run = subprocess.Popen([sys.executable, "-c", SLOW_RUN, database_url, SCHEMA], cwd=REPO)
    try:
        _wait_for_sleep(database_url)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()

    after_kill = versions(database_url)
    killed_dump = schema_dump(database_url)
    slow = Migration(NEXT, "slow", "CREATE TABLE {schema}.slow (x int); SELECT pg_sleep(0.1);", "")
    second = Migrator(database_url, SCHEMA, (*MIGRATIONS, slow)).run("tester")

    assert run.returncode == -signal.SIGKILL
    assert after_kill == CODE_VERSIONS
    assert "slow" not in killed_dump
    assert [str(step) for step in second] == [f"up {NEXT}: slow"]
    assert versions(database_url) == [*CODE_VERSIONS, (NEXT, "slow")]


class PlainSealer(Sealer):
    """Events as stored before migration 3: personal fields in clear."""

    def __init__(self) -> None:
        super().__init__(KeyRing(Unattached(), lambda: datetime.now(UTC)))

    def seal(self, event_type: str, aggregate: str, state: dict[str, Any], encode: Any) -> dict[str, Any]:
        return state

    def subject_ref(self, tenant: str, user_id: str) -> str:
        return "legacy"


def _legacy_store(url: str, schema: str) -> uuid.UUID:
    """A database as the unversioned `batchq migrate` left it (the library created its own tables), with a batch."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.batchq_relay (name text PRIMARY KEY, position bigint NOT NULL)")
        conn.execute(
            f"CREATE TABLE {schema}.batchq_workers (worker_id text PRIMARY KEY, "
            "beat_at timestamptz NOT NULL, jobs jsonb NOT NULL DEFAULT '[]')"
        )
        conn.execute(f"INSERT INTO {schema}.batchq_relay VALUES ('relay', 2)")
    app = BatchqApplication(env={**_postgres_env(url, schema), "CREATE_TABLE": "y"})
    app.sealer = app.mapper.sealer = PlainSealer()  # type: ignore[attr-defined]  (events were stored in clear then)
    draft = BatchDraft(
        batch_id=uuid.uuid4(), tenant="acme", user_id="u", trace_id="t", depositor_email="d@example.org",
        fingerprint="sha256:x", jobs=[JobDraft(job_uuid=uuid.uuid4(), params={}) for _ in range(3)],
    )  # fmt: skip
    EventStore(app, PostgresDialect(app.recorder, url)).save(*create_batch(draft, {}, datetime.now(UTC)).aggregates())
    app.close()
    return draft.batch_id


def test_a_database_from_before_versions_is_refused_then_adopted_with_its_rows(database_url: str) -> None:
    batch_id = _legacy_store(database_url, SCHEMA)
    with pytest.raises(NotMigratedError, match=r"predates versioned migrations.*batchq migrate"):
        EventStore.postgres(database_url, schema=SCHEMA)

    steps = Migrator(database_url, SCHEMA).run("tester")
    store = EventStore.postgres(database_url, schema=SCHEMA)

    assert [step.migration.version for step in steps] == [v for v, _ in CODE_VERSIONS]
    assert store.max_position() == 5  # the batch and its 3 jobs, all kept (+1: the queue)
    assert store.get(batch_id).batch_id == batch_id
    assert store.dialect.relay_position("relay") == 2
    Migrator(database_url, "batchq_fresh").run("tester")  # adopted looks like created afresh
    assert _schema_only(database_url, SCHEMA) == _schema_only(database_url, "batchq_fresh").replace(
        "batchq_fresh", SCHEMA
    )
    store.close()


def _schema_only(url: str, schema: str) -> str:
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--schema", schema, url], check=True, capture_output=True, text=True
    ).stdout
    return "\n".join(line for line in dump.splitlines() if line and not line.startswith(("--", "\\")))


def test_a_service_refuses_a_schema_that_is_behind_or_newer_than_its_code(database_url: str) -> None:
    Migrator(database_url, SCHEMA, WITH_NOTES).run("tester")
    newer = rf"version {NEXT}, newer than this batchq knows \({HEAD}\).*batchq migrate"
    with pytest.raises(NotMigratedError, match=newer):
        EventStore.postgres(database_url, schema=SCHEMA)

    Migrator(database_url, SCHEMA, WITH_NOTES).run("tester", 0)
    with pytest.raises(NotMigratedError, match=r"has no batchq_events.*batchq migrate"):
        EventStore.postgres(database_url, schema=SCHEMA)

    Migrator(database_url, SCHEMA).run("tester")
    with pytest.raises(NotMigratedError, match=rf"version {HEAD}, this batchq needs {NEXT}; run `batchq migrate`"):
        Migrator(database_url, SCHEMA, WITH_NOTES).require_current("the database")


def test_a_version_applied_by_another_build_is_refused_by_services_and_migrate(database_url: str) -> None:
    other_build = Migration(
        NEXT, "projections (another build)", "CREATE TABLE {schema}.p (x int);", "DROP TABLE {schema}.p;"
    )
    Migrator(database_url, SCHEMA, (*MIGRATIONS, other_build)).run("tester")

    with pytest.raises(NotMigratedError, match=rf"not this batchq's.*projections \(another build\).*--to {HEAD}"):
        Migrator(database_url, SCHEMA, WITH_NOTES).require_current("the database")
    with pytest.raises(ForeignVersionError, match="notes table"):
        Migrator(database_url, SCHEMA, WITH_NOTES).run("tester")
