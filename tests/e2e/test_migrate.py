"""`batchq migrate` as an operator runs it: status with when and by whom, a dry run that changes
nothing, `--to` down and up, and services that refuse a schema newer than their code."""

from __future__ import annotations

import psycopg

from services.adapters.migrations import MIGRATIONS
from tests.e2e.cli import Cli
from tests.e2e.test_cli import assert_one_clear_line
from tests.integration.test_migrations import schema_dump


def test_status_dry_run_and_to_as_the_operator_sees_them(cli: Cli, database_url: str) -> None:
    empty = schema_dump(database_url)
    dry = cli.ok("migrate", "--dry-run")
    pending = cli.ok("migrate", "status")
    assert schema_dump(database_url) == empty

    cli.ok("migrate")
    applied = cli.ok("migrate", "status")
    down = cli.ok("migrate", "--to", "0", "--yes-destroy-history")
    up = cli.ok("migrate", "--to", "1")

    assert "up 1: event store" in dry.stdout and "CREATE TABLE IF NOT EXISTS public.batchq_events" in dry.stdout
    assert "pending     1" in pending.stdout and "at version 0" in pending.stdout
    assert "applied     1" in applied.stdout and "by guest" in applied.stdout  # the user of BATCHQ_AMQP_URL
    assert "down 1" in down.stdout and "up 1" in up.stdout
    assert '"event":"migration_applied"' in up.stderr and '"by":"guest"' in up.stderr


def test_a_service_and_a_read_refuse_a_schema_newer_than_their_code(migrated: Cli, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO batchq_migrations (version, name, applied_by) VALUES (%s, 'from the future', 'x')",
            (MIGRATIONS[-1].version + 1,),
        )

    service = migrated.run("run", "worker", timeout=60)
    read = migrated.run("events")

    for result in (service, read):
        assert result.code == 1, str(result)
        head = MIGRATIONS[-1].version
        assert_one_clear_line(result.stderr, "batchq migrate", f"newer than this batchq knows ({head})")


def test_going_down_to_0_destroys_history_only_when_told_to(migrated: Cli, database_url: str) -> None:
    head = MIGRATIONS[-1].version
    before = schema_dump(database_url)

    refused = migrated.run("migrate", "--to", "0")
    dry_run = migrated.ok("migrate", "--to", "0", "--dry-run")
    after_refusal = schema_dump(database_url)
    status = migrated.ok("migrate", "status")
    told = migrated.ok("migrate", "--to", "0", "--yes-destroy-history")
    again = migrated.ok("migrate", "--to", "0")  # nothing left to destroy: nothing to ask

    assert refused.code == 1, str(refused)
    assert_one_clear_line(refused.stderr, "refused", "drops the event store", "--yes-destroy-history")
    assert after_refusal == before and f"at version {head}" in status.stdout
    assert "down 1" in dry_run.stdout
    assert "at version 0" in told.stdout and "down 1" in told.stdout
    assert "at version 0" in again.stdout
