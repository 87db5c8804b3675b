"""`batchq checkpoint create | restore | list`: a copy of the store to go back to, taken before an upgrade.

`create --drain` first pauses the queue as `batchq pause` does and waits until no
job is PROCESSING, so the copy holds no attempt in flight; the queue stays paused
until `batchq resume`. Without it the copy may hold running attempts: services
started on a restore find no worker holding them and run them again (WORKER_LOST),
as after any crash.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from domain.checkpoint import create_checkpoint
from domain.states import JobStatus
from services.adapters import ask, broker_definitions
from services.adapters.amqp import AmqpBus
from services.adapters.checkpoint import (
    BROKER_FILE,
    STORE_FILE,
    BadCheckpointError,
    CheckpointError,
    Manifest,
    checkpoints_under,
    dump_store,
    restore_store,
    sha256,
)
from services.adapters.migrations import MIGRATIONS
from services.adapters.settings import Settings
from services.adapters.store import EventStore, check_database, redact

JOB_STARTED_TOPICS = ("batchq:JobStarted",)
PAGE = 5000


class DrainTimeoutError(CheckpointError):
    def __init__(self, running: int, seconds: float) -> None:
        super().__init__(
            f"{running} job(s) still PROCESSING after {seconds:.0f} s; the queue stays paused (`batchq resume`)"
        )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("checkpoint", help="copy the store (and broker definitions) before an upgrade; restore it")
    actions = s.add_subparsers(dest="action", required=True)
    c = actions.add_parser("create", help="a consistent copy of the store up to one position, into DIR")
    c.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new or empty directory")
    c.add_argument("--drain", action="store_true", help="pause the queue and wait for running jobs to settle first")
    c.add_argument("--label", default="", metavar="L")
    c.add_argument("--drain-timeout", type=float, default=600.0, metavar="SECONDS")
    r = actions.add_parser("restore", help="load a checkpoint into an empty database")
    r.add_argument("dir", type=Path, metavar="DIR")
    r.add_argument("--database", required=True, metavar="URL", help="a libpq URL of a database with no tables")
    r.add_argument(
        "--no-broker", action="store_true", help="do not load the broker definitions into BATCHQ_AMQP_URL's vhost"
    )
    ls = actions.add_parser("list", help="the checkpoints in a directory")
    ls.add_argument("--dir", type=Path, default=Path("."), help="a checkpoint or a directory of them")


async def main(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "create":
        return await create(args, settings)
    if args.action == "restore":
        return restore(args.dir, args.database, settings, load_broker=not args.no_broker)
    return list_checkpoints(args.dir)


async def create(args: argparse.Namespace, settings: Settings) -> int:
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadCheckpointError(out, "--out must be a new or empty directory")
    store = EventStore.postgres(settings.database_url, schema=settings.database_schema)
    try:
        if args.drain:
            await drain(settings, store, args.drain_timeout, args.label)
        out.mkdir(parents=True, exist_ok=True)
        copy = await asyncio.to_thread(dump_store, settings.database_url, settings.database_schema, out / STORE_FILE)
        broker = await asyncio.to_thread(
            broker_definitions.save, settings.amqp_url, settings.rabbitmq_management_url, out / BROKER_FILE
        )
        files = {name: sha256(out / name) for name in (STORE_FILE, BROKER_FILE) if (out / name).is_file()}
        checkpoint_id, now = uuid.uuid4(), datetime.now(UTC)
        record = create_checkpoint(
            checkpoint_id, label=args.label, position=copy.position, store_schema_version=copy.schema_version,
            location=str(out.resolve()), requested_by=settings.principal, now=now,
        )  # fmt: skip
        await asyncio.to_thread(store.save, record)
    finally:
        store.close()
    manifest = Manifest(
        checkpoint_id=str(checkpoint_id), label=args.label, created_at=now.isoformat(), created_by=settings.principal,
        position=copy.position, schema_version=copy.schema_version, database_schema=settings.database_schema,
        files=files, broker=broker, drained=args.drain,
    )  # fmt: skip
    manifest.write(out)
    saved = "saved" if broker["saved"] else f"not saved: {broker['reason']}"
    print(f"checkpoint {checkpoint_id} in {out}: the store up to position {copy.position},"
          f" schema version {copy.schema_version}; broker definitions {saved}")  # fmt: skip
    return 0


async def drain(settings: Settings, store: EventStore, timeout: float, label: str) -> None:
    """Pause the queue (already paused is fine) and wait until no job is PROCESSING."""
    bus = AmqpBus(settings.amqp_url, queue_type=settings.queue_type)
    await bus.connect()
    try:
        code, reply = await ask.send_command(bus, {"command": "pause_queue", "reason": f"checkpoint {label}".strip()})
    finally:
        await bus.close()
    if code != ask.EXIT_OK and reply["error"]["code"] != "ILLEGAL_TRANSITION":  # ILLEGAL: paused already
        raise CheckpointError(f"pause_queue refused: {reply['error']['code']}: {reply['error']['reason']}")
    # Paused: no job starts any more, so the running ones are all among those ever started.
    running = await asyncio.to_thread(processing, store, started_job_ids(store))
    deadline = time.monotonic() + timeout
    while running:
        if time.monotonic() > deadline:
            raise DrainTimeoutError(len(running), timeout)
        await asyncio.sleep(0.5)
        running = await asyncio.to_thread(processing, store, running)


def started_job_ids(store: EventStore) -> list[uuid.UUID]:
    position, ids = 0, set()
    while records := store.read(position, PAGE, topics=JOB_STARTED_TOPICS):
        ids.update(r.event.originator_id for r in records)
        position = records[-1].position
    return list(ids)


def processing(store: EventStore, job_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    jobs = store.get_many(job_ids)
    return [job_id for job_id, job in jobs.items() if job.status is JobStatus.PROCESSING]


def restore(directory: Path, url: str, settings: Settings, *, load_broker: bool) -> int:
    """The store into the empty database `url`, then the broker definitions into BATCHQ_AMQP_URL's vhost.

    The store first: it is the step that may refuse (a database with tables, a bad
    checksum) and must then leave the broker alone. A broker that refuses afterwards
    leaves the store restored, and its one line says so: the services declare their
    own topology when they start, and the file can be loaded later by hand.
    """
    manifest = Manifest.read(directory)
    check_database(url, "--database")
    restore_store(directory, manifest, url, redact(url))
    print(f"restored checkpoint {manifest.checkpoint_id} ({manifest.label or 'no label'}) into {redact(url)}:"
          f" the store up to position {manifest.position}, schema {manifest.database_schema} at version"
          f" {manifest.schema_version}")  # fmt: skip
    saved_vhost = manifest.broker.get("vhost")
    if not manifest.broker.get("saved"):
        print(f"  the checkpoint holds no broker definitions ({manifest.broker.get('reason', 'none saved')})")
    elif not load_broker:
        print(f"  broker definitions of vhost {saved_vhost} not loaded (--no-broker): they are in"
              f" {directory / BROKER_FILE}")  # fmt: skip
    else:
        try:
            how = broker_definitions.load(directory / BROKER_FILE, settings.amqp_url, settings.rabbitmq_management_url)
        except broker_definitions.BrokerDefinitionsError as error:
            raise CheckpointError(
                f"{error}; the store is restored, the definitions are in {directory / BROKER_FILE}"
            ) from None
        print(f"  broker definitions of vhost {saved_vhost} loaded into {redact(settings.amqp_url)} through {how}")
    if manifest.schema_version != MIGRATIONS[-1].version:
        print(f"  this batchq's schema version is {MIGRATIONS[-1].version}: `batchq migrate` (or `--to`) before"
              " starting services on it")  # fmt: skip
    if manifest.drained:
        print("  it was taken drained: the queue is paused until `batchq resume`")
    return 0


def list_checkpoints(directory: Path) -> int:
    found = checkpoints_under(directory)
    for path, m in found:
        print(f"{m.created_at}  position {m.position:>10}  schema v{m.schema_version}  {m.label or '-'}"
              f"  by {m.created_by}  {path}")  # fmt: skip
    if not found:
        print(f"no checkpoint in {directory}")
    return 0
