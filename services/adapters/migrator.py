"""Versioned schema migrations on PostgreSQL: up, down, dry-run, status, and the start-up check.

Home-made rather than yoyo-migrations or Alembic (the README says why): what
batchq needs is a few dozen lines on psycopg, and what those tools would need
adapting for is most of it (one schema named at run time, a dry-run that runs
every pending step and rolls back, recording the broker principal).

- Each step (its DDL and its row in `batchq_migrations`) is one transaction:
  PostgreSQL's DDL is transactional, so a run killed midway leaves the previous
  version and the next run starts that step again.
- One run at a time per schema: a session advisory lock, released by the server
  when the connection goes, even on SIGKILL; `client_connection_check_interval`
  makes the server notice a vanished client mid-statement and roll back at once.
- A dry run is every pending step in one transaction that is always rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from services.adapters.logging import get_logger
from services.adapters.migrations import MIGRATIONS, Migration
from services.adapters.setup_errors import SetupError

MIGRATIONS_TABLE = "batchq_migrations"
# Who `batchq_migrations` names when a program (a test, the embedded mode) migrates, not `batchq migrate`.
MIGRATED_BY_CODE = "batchq (EventStore)"
LEGACY_TABLES = ("batchq_events", "batchq_relay", "batchq_workers")
LOG_EVENTS = {"up": "migration_applied", "down": "migration_reverted"}  # a dry run's: migration_tried
log = get_logger("batchq.migrate")


class SchemaError(SetupError):
    """Base of the migrator's errors: each says in one line what to run."""


class NotMigratedError(SchemaError):
    """The database is not at this code's schema version: `batchq migrate` has not run (or was rolled back)."""

    def __init__(self, address: str, schema: str, state: str) -> None:
        super().__init__(f"the database {address} (BATCHQ_DATABASE_URL) is not migrated: schema {schema} {state}")


class UnknownVersionError(SchemaError):
    def __init__(self, version: int, head: int) -> None:
        super().__init__(f"there is no schema version {version}: this batchq knows 0 to {head}")


class ForeignVersionError(SchemaError):
    """An applied version that this code numbers the same but names differently: another build's migration."""

    def __init__(self, applied: Applied, ours: Migration) -> None:
        super().__init__(
            f"schema version {applied.version} was applied as {applied.name!r}, but this batchq's version"
            f" {ours.version} is {ours.name!r}: roll it back with the batchq that applied it (`batchq migrate --to"
            f" {applied.version - 1}`)"
        )


class MigrationFailedError(SchemaError):
    """A step failed: its transaction is rolled back, the schema stays at the version before it."""

    def __init__(self, step: Step, cause: psycopg.Error) -> None:
        one_line = " ".join(str(cause).split())
        super().__init__(f"migration {step} failed, rolled back: {one_line}")


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    applied_at: datetime
    applied_by: str


@dataclass(frozen=True)
class Step:
    migration: Migration
    direction: str  # "up" or "down"

    def __str__(self) -> str:
        return f"{self.direction} {self.migration.version}: {self.migration.name}"


@dataclass(frozen=True)
class SchemaStatus:
    applied: list[Applied]
    pending: list[Migration]
    legacy: bool  # batchq's tables from before versions, not yet adopted

    @property
    def version(self) -> int:
        return max((a.version for a in self.applied), default=0)


class Migrator:
    """The migrations of one schema of one database."""

    def __init__(self, url: str, schema: str, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.url = url
        self.schema = schema
        self.migrations = {m.version: m for m in migrations}
        self.head = max(self.migrations, default=0)
        self.table = sql.Identifier(schema, MIGRATIONS_TABLE)

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        if conn.info.server_version >= 140000:
            conn.execute("SET client_connection_check_interval = '1s'")
        return conn

    # -- reading ------------------------------------------------------------------

    def status(self) -> SchemaStatus:
        with psycopg.connect(self.url, connect_timeout=5) as conn:
            applied = self._applied(conn) if self._has_table(conn, MIGRATIONS_TABLE) else []
            legacy = not applied and self._has_table(conn, LEGACY_TABLES[0])
        done = {a.version for a in applied}
        pending = [m for v, m in sorted(self.migrations.items()) if v not in done]
        return SchemaStatus(applied, pending, legacy)

    def check_known(self, applied: Sequence[Applied]) -> None:
        """Raise `ForeignVersionError` if an applied version is not the migration this code has under its number."""
        for a in applied:
            ours = self.migrations.get(a.version)
            if ours is not None and ours.name != a.name:
                raise ForeignVersionError(a, ours)

    def require_current(self, address: str) -> None:
        """Raise `NotMigratedError` unless the schema is at exactly this code's version (start-up check)."""
        status = self.status()
        try:
            self.check_known(status.applied)
        except ForeignVersionError as error:
            raise NotMigratedError(address, self.schema, f"is not this batchq's: {error}") from None
        if status.version == self.head and not status.pending:
            return
        if status.version > self.head:
            state = (
                f"is at version {status.version}, newer than this batchq knows ({self.head}): run the newer"
                f" batchq, or roll back with its `batchq migrate --to {self.head}`"
            )
        elif status.legacy:
            state = "predates versioned migrations; run `batchq migrate` first (it adopts the tables and their rows)"
        elif not status.applied:
            state = f"has no {', '.join(LEGACY_TABLES)}; run `batchq migrate` first"
        else:
            state = f"is at version {status.version}, this batchq needs {self.head}; run `batchq migrate` first"
        raise NotMigratedError(address, self.schema, state)

    def _has_table(self, conn: psycopg.Connection[Any], name: str) -> bool:
        found = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s", (self.schema, name)
        ).fetchone()
        return found is not None

    def _applied(self, conn: psycopg.Connection[Any]) -> list[Applied]:
        query = sql.SQL("SELECT version, name, applied_at, applied_by FROM {} ORDER BY version").format(self.table)
        return [Applied(*row) for row in conn.execute(query).fetchall()]

    # -- changing -----------------------------------------------------------------

    def plan(self, applied: Sequence[int], target: int | None = None) -> list[Step]:
        """The steps from the `applied` versions to `target` (default: this code's head), in order."""
        target = self.head if target is None else target
        if target < 0 or target > self.head:
            raise UnknownVersionError(target, self.head)
        done = set(applied)
        ups = [Step(self.migrations[v], "up") for v in sorted(self.migrations) if v <= target and v not in done]
        downs = [Step(self.migrations[v], "down") for v in sorted(done, reverse=True) if v > target]
        return downs + ups

    def run(self, principal: str, target: int | None = None, *, dry_run: bool = False) -> list[Step]:
        """Apply the plan to `target`, one transaction per step (all in one, rolled back, when `dry_run`)."""
        with self._connect() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"batchq migrate {self.schema}",))
            if dry_run:
                with conn.transaction(force_rollback=True):
                    steps = self._plan_locked(conn, target)
                    for step in steps:
                        self._apply(conn, step, principal, dry_run=True)
                return steps
            with conn.transaction():
                steps = self._plan_locked(conn, target)
            for step in steps:
                with conn.transaction():
                    self._apply(conn, step, principal, dry_run=False)
            return steps

    def _plan_locked(self, conn: psycopg.Connection[Any], target: int | None) -> list[Step]:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL)"
            ).format(self.table)
        )
        applied = self._applied(conn)
        self.check_known(applied)
        return self.plan([a.version for a in applied], target)

    def _apply(self, conn: psycopg.Connection[Any], step: Step, principal: str, *, dry_run: bool) -> None:
        migration = step.migration
        adopting = migration.version == 1 and step.direction == "up" and self._has_table(conn, LEGACY_TABLES[0])
        try:
            conn.execute(migration.script(step.direction, self.schema))
        except psycopg.Error as error:
            raise MigrationFailedError(step, error) from None
        if step.direction == "up":
            conn.execute(
                sql.SQL("INSERT INTO {} (version, name, applied_by) VALUES (%s, %s, %s)").format(self.table),
                (migration.version, migration.name, principal),
            )
        else:
            conn.execute(sql.SQL("DELETE FROM {} WHERE version = %s").format(self.table), (migration.version,))
        log.info(
            "migration_tried" if dry_run else LOG_EVENTS[step.direction],
            version=migration.version,
            name=migration.name,
            direction=step.direction,
            schema=self.schema,
            by=principal,
            adopted_existing_tables=adopting,
            dry_run=dry_run,
        )
