"""The `batchq` command: submit, inspect, administer and run batchq.

Exit status: 0 on success (also when the reader of the output closes it early, as
`| head` does), 1 when the command was refused, a server is out of reach or the
database is not migrated (one line on stderr says which and where), 2 on bad usage
(including a submission file that cannot be read).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from domain.access import EVERY_TENANT, Role
from domain.states import FINAL_BATCH_STATES
from services.adapters import ask, history
from services.adapters import logging as batchq_logging
from services.adapters.addresses import redact
from services.adapters.amqp import AmqpBus
from services.adapters.envelopes import dumps
from services.adapters.settings import Settings
from services.adapters.setup_errors import SetupError
from services.adapters.store import (
    EventStore,
    NotFoundError,
)
from services.cli import canary, checkpoint, migrate, operate, report, run, views
from services.cli.quota import quota_command, quota_parsers

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def _time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-11-22T10:00:00Z")
    return moment


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="batchq", description="An event-sourced batch job queue.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("submit", help="publish a submission (a JSON file)")
    s.add_argument("file", type=Path)
    s.add_argument("--wait", action="store_true", help="follow the batch to a final state")
    s = sub.add_parser("status", help="a batch and every job, rebuilt from events")
    s.add_argument("batch_id", type=UUID)
    s.add_argument("--json", action="store_true")
    s.add_argument("--at", type=_time, help="rebuild as it was at this time (ISO 8601)")
    s = sub.add_parser("events", help="the event history, oldest first")
    s.add_argument("--batch", type=UUID)
    s.add_argument("--job", type=UUID)
    s.add_argument("--since", type=int, default=0, metavar="POSITION")
    s.add_argument("--follow", action="store_true")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("retry", help="retry_job")
    s.add_argument("job_uuid", type=UUID)
    s.add_argument("--override", action="store_true")
    s.add_argument("--reason", default="")
    for name, arg in (("cancel", "job_uuid"), ("delete", "batch_id"), ("update-reporting", "batch_id")):
        sub.add_parser(name).add_argument(arg, type=UUID)
    for name in ("pause", "resume"):
        sub.add_parser(name).add_argument("--reason", default="")
    for name, verb in (("grant", "give"), ("revoke", "take back")):
        s = sub.add_parser(name, help=f"{verb} a principal's role (operators only)")
        s.add_argument("principal")
        s.add_argument("role", choices=[role.value for role in Role])
        s.add_argument("--tenant", default=EVERY_TENANT, help="one tenant, or '*' for every tenant (the default)")
        s.add_argument("--reason", default="")
    s = sub.add_parser("grants", help="who holds which role (read from the database, as an operator)")
    s.add_argument("principal", nargs="?")
    s.add_argument("--json", action="store_true")
    quota_parsers(sub.add_parser("quota", help="a tenant's or a depositor's quotas (operators only)"))
    s = sub.add_parser("erase", help="make a depositor's personal data unreadable for good (operators only)")
    s.add_argument("--tenant", required=True, help="the depositor's tenant ('*': what spans tenants, their quota)")
    s.add_argument("--user", required=True, help="the depositor (the user_id of submissions)")
    s.add_argument("--reason", default="")
    canary.add_parser(sub)
    s = sub.add_parser("run", help="run one service until SIGTERM")
    s.add_argument("service", choices=run.SERVICES)
    migrate.add_parser(sub)
    checkpoint.add_parser(sub)
    report.add_parser(sub)
    operate.add_parsers(sub)
    s = sub.add_parser("dev", help="all services in one process on an embedded store and bus")
    s.add_argument("--dir", type=Path, help="where the store and emails go")
    s = sub.add_parser("demo", help="the seed use cases on the embedded store, live")
    s.add_argument("--dir", type=Path, help="where the store and emails go")
    return p


COMMANDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "retry": lambda a: {
        "command": "retry_job",
        "job_uuid": str(a.job_uuid),
        "override": a.override,
        "reason": a.reason,
    },
    "cancel": lambda a: {"command": "cancel_job", "job_uuid": str(a.job_uuid)},
    "delete": lambda a: {"command": "delete_batch", "batch_id": str(a.batch_id)},
    "update-reporting": lambda a: {"command": "update_reporting", "batch_id": str(a.batch_id)},
    "pause": lambda a: {"command": "pause_queue", "reason": a.reason},
    "grant": lambda a: {"command": "grant_role", **_role_change(a)},
    "revoke": lambda a: {"command": "revoke_role", **_role_change(a)},
    "quota set": quota_command,
    "erase": lambda a: {"command": "erase_depositor", "tenant": a.tenant, "user_id": a.user, "reason": a.reason},
    **{f"canary {action}": canary.command for action in ("start", "promote", "abort")},
    "resume": lambda a: {"command": "resume_queue", "reason": a.reason},
}


def _role_change(args: argparse.Namespace) -> dict[str, Any]:
    return {"principal": args.principal, "role": args.role, "tenant": args.tenant, "reason": args.reason}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings.from_env()
    batchq_logging.configure(settings.log_level, quiet_libraries=args.command != "run")
    try:
        return _run(args, settings)
    except SetupError as error:
        print(f"batchq: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except NotFoundError as error:
        print(f"refused: NOT_FOUND: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except TimeoutError:
        print(
            f"batchq: no answer from the dispatcher at {redact(settings.amqp_url)} (BATCHQ_AMQP_URL);"
            " is `batchq run dispatcher` running?",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`batchq events | head`): it read all it wanted.
        # Point stdout at /dev/null so the interpreter's last flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command in ("dev", "demo"):
        from services.cli import embedded

        return embedded.main(args.command, args.dir or settings.dev_dir, settings)
    if args.command == "run":
        return run.main(args.service, settings)
    if args.command == "migrate":
        return asyncio.run(migrate.main(args, settings))
    if args.command == "checkpoint":
        return asyncio.run(checkpoint.main(args, settings))
    if args.command == "report":
        return report.main(args, settings)
    if args.command in ("quota", "canary"):
        args.command = f"{args.command} {getattr(args, args.command + '_command')}"
    if args.command in ("projections", "token"):
        return operate.main(args, settings)
    if args.command in COMMANDS:
        return asyncio.run(_admin(settings, COMMANDS[args.command](args)))
    if args.command == "submit":
        try:
            body = args.file.read_bytes()
        except OSError as error:
            print(f"batchq: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
            return EXIT_USAGE
        return asyncio.run(_submit(settings, body, args.wait))
    if settings.api_url and args.command in ("status", "events"):
        from services.cli import remote

        return remote.main(args, settings)
    store = EventStore.from_url(settings.database_url, settings.database_schema)
    if args.command == "canary status":
        print(canary.status(store, args.json))
        return EXIT_OK
    if args.command == "quota show":
        print(views.quota_listing(store, args.tenant, args.user, as_json=args.json))
        return EXIT_OK
    if args.command == "grants":
        print(views.grants_listing(store, args.principal, as_json=args.json))
        return EXIT_OK
    if args.command == "status":
        doc = history.status_document(*history.load_batch(store, args.batch_id, args.at))
        if args.json or not sys.stdout.isatty():
            print(orjson.dumps(doc).decode() if args.json else views.status_table(doc))
        else:
            from services.cli import terminal  # rich, imported only when there is a terminal to draw on

            terminal.print_status(doc, sys.stdout)
        return EXIT_OK
    return _events(store, args)


async def _ask(
    settings: Settings, request: Callable[[AmqpBus], Awaitable[tuple[int, dict[str, Any]]]]
) -> tuple[int, dict[str, Any]]:
    """Connect, send one request, and return (exit status, reply)."""
    bus = AmqpBus(settings.amqp_url, queue_type=settings.queue_type)
    await bus.connect()
    try:
        return await request(bus)
    finally:
        await bus.close()


async def _admin(settings: Settings, command: dict[str, Any]) -> int:
    code, reply = await _ask(settings, lambda bus: ask.send_command(bus, command))
    _show(reply)
    return code


def _show(reply: dict[str, Any]) -> None:
    print(orjson.dumps(reply).decode())
    if not reply.get("ok"):
        print(f"refused: {reply['error']['code']}: {reply['error']['reason']}", file=sys.stderr)


async def _submit(settings: Settings, body: bytes, wait: bool) -> int:
    code, reply = await _ask(settings, lambda bus: ask.submit(bus, body))
    _show(reply)
    if code != EXIT_OK or not wait:
        return code
    store = EventStore.from_url(settings.database_url, settings.database_schema)
    return await asyncio.to_thread(follow, store, UUID(reply["result"]["batch_id"]))


def follow(store: EventStore, batch_id: UUID) -> int:
    """Show a progress bar (settled / total, rate, ETA) until the batch is final."""
    from services.cli import terminal

    progress = views.BatchProgress(store, batch_id)
    with terminal.progress_display(sys.stderr) as display:  # a terminal redraws; a log gets a line per change
        while True:
            settled, total, status = progress.poll()
            display.show(settled, total, status)
            if status in FINAL_BATCH_STATES:
                break
            time.sleep(0.5)
    print(f"batch {batch_id} {status}")
    return EXIT_OK


def _events(store: EventStore, args: argparse.Namespace) -> int:
    position = args.since
    while True:
        envelopes = history.event_envelopes(store, batch_id=args.batch, job_uuid=args.job, since=position)
        for env in envelopes:
            print(dumps(env).decode() if args.json else views.event_line(env), flush=True)
            position = max(position, env["position"])
        if not args.follow:
            return EXIT_OK
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
