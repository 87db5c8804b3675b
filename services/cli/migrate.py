"""`batchq migrate [--dry-run] [--to N]` and `batchq migrate status`: the schema's versions, shown and moved.

The broker's topology is declared by a real run only: a dry run changes nothing,
and `status` is a read.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from services.adapters.amqp import AmqpBus
from services.adapters.migrator import Migrator, SchemaStatus, Step
from services.adapters.settings import Settings
from services.adapters.store import PLAIN_SCHEMA_NAME, EventStore, SchemaNameError, check_database

# The migration that creates the event store: going below it drops every event ever recorded.
HISTORY_VERSION = 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("migrate", help="bring the database to this version's schema; declare the RabbitMQ topology")
    s.add_argument("action", nargs="?", choices=["status"], help="list applied and pending migrations")
    s.add_argument("--dry-run", action="store_true", help="print the pending steps, run them and roll back")
    s.add_argument("--to", type=int, metavar="N", help="go up or down to schema version N (0: nothing)")
    s.add_argument(
        "--yes-destroy-history",
        action="store_true",
        help=f"let --to go below version {HISTORY_VERSION}: drop the event store, every event with it",
    )


def migrator(settings: Settings) -> Migrator:
    if not PLAIN_SCHEMA_NAME.fullmatch(settings.database_schema):
        raise SchemaNameError(settings.database_schema)
    check_database(settings.database_url)
    return Migrator(settings.database_url, settings.database_schema)


async def main(args: argparse.Namespace, settings: Settings) -> int:
    schema = migrator(settings)
    if args.action == "status":
        print(status_text(schema.status(), schema.head, settings.database_schema))
        return 0
    if refusal := history_refusal(args, schema, settings.database_schema):
        print(refusal, file=sys.stderr)
        return 1
    steps = schema.run(settings.principal, args.to, dry_run=args.dry_run)
    if args.dry_run:
        print(dry_run_text(steps, schema))
        return 0
    bus = AmqpBus(settings.amqp_url, queue_type=settings.queue_type)
    await bus.connect()
    await bus.close()
    version = schema.status().version
    done = "; ".join(str(step) for step in steps) or "nothing to do"
    print(f"migrated: schema {settings.database_schema} at version {version} ({done}) by {settings.principal}")
    print("RabbitMQ topology is in place")
    if version == schema.head and first_operator_made(settings):
        print(f"{settings.principal} is the first operator (role operator for every tenant): see `batchq grant`")
    return 0


def history_refusal(args: argparse.Namespace, schema: Migrator, name: str) -> str | None:
    """Why `--to` may not run, or None: below the event store's version it destroys the history, unless told to.

    A dry run changes nothing, and a schema already below that version has no history to lose.
    """
    if args.to is None or args.to >= HISTORY_VERSION or args.dry_run or args.yes_destroy_history:
        return None
    version = schema.status().version
    if version < HISTORY_VERSION:
        return None
    return (
        f"refused: `batchq migrate --to {args.to}` drops the event store of schema {name} (version {version} now),"
        " every event with it, for good; take a checkpoint first (`batchq checkpoint create`), then add"
        " --yes-destroy-history"
    )


def first_operator_made(settings: Settings) -> bool:
    """On a database with no operator yet, the principal that migrates becomes one (CONTRACT v1.1)."""
    store = EventStore.from_url(settings.database_url, settings.database_schema)
    try:
        return store.ensure_first_operator(settings.principal, datetime.now(UTC))
    finally:
        store.close()


def status_text(status: SchemaStatus, head: int, schema: str) -> str:
    lines = [f"schema {schema} at version {status.version}; this batchq's is {head}"]
    if status.legacy:
        lines.append("  tables from before versioned migrations: `batchq migrate` adopts them as version 1")
    for a in status.applied:
        lines.append(f"applied  {a.version:>4}  {a.name}  at {a.applied_at.isoformat()} by {a.applied_by}")
    lines.extend(f"pending  {m.version:>4}  {m.name}" for m in status.pending)
    return "\n".join(lines)


def dry_run_text(steps: list[Step], schema: Migrator) -> str:
    if not steps:
        return "dry run: nothing to do"
    lines = [f"dry run: {len(steps)} step(s), each run and rolled back, nothing changed:"]
    for step in steps:
        lines.append(f"-- {step}")
        lines.append(getattr(step.migration, step.direction).strip().replace("{schema}", schema.schema))
    return "\n".join(lines)
