"""`batchq projections rebuild` and `batchq token create|revoke`: the operator's side of the read model and API."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.api.tokens import Tokens, UnknownTokenError
from services.projections.projector import Projector

EXIT_OK, EXIT_REFUSED = 0, 1


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = sub.add_parser("projections", help="the read model: rebuild it from position 0")
    s.add_argument("action", choices=["rebuild"])
    s = sub.add_parser("token", help="API tokens: create (printed once) or revoke")
    tokens = s.add_subparsers(dest="token_action", required=True)
    create = tokens.add_parser("create")
    create.add_argument("principal")
    create.add_argument("--ttl", type=float, default=90.0, metavar="DAYS")
    tokens.add_parser("revoke").add_argument("token_id")


def main(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "projections":
        return rebuild(settings)
    tokens = Tokens(settings.database_url, settings.database_schema)
    now = datetime.now(UTC)
    if args.token_action == "create":
        issued = tokens.create(args.principal, args.ttl, now)
        print(f"token_id {issued.token_id}  principal {issued.principal}  expires {issued.expires_at.isoformat()}")
        print(issued.token)
        print("the token is shown once; only its hash is stored", file=sys.stderr)
        return EXIT_OK
    try:
        tokens.revoke(args.token_id, now)
    except UnknownTokenError as error:
        print(f"refused: NOT_FOUND: {error}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"revoked {args.token_id}")
    return EXIT_OK


def rebuild(settings: Settings) -> int:
    """Replay the whole log into the read model: a bar on a terminal, one line per page otherwise."""
    store = EventStore.postgres(settings.database_url, schema=settings.database_schema)
    projector = Projector(store, settings.database_url, settings.database_schema)
    tty = sys.stderr.isatty()

    def show(position: int, end: int) -> None:
        share = position / end if end else 1.0
        line = f"[{'#' * int(30 * share):30}] {position}/{end} events"
        print("\r" + line if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    try:
        applied = projector.rebuild(show)
    finally:
        projector.close()
        store.close()
    if tty:
        print(file=sys.stderr)
    print(f"rebuilt the read model from {applied} events")
    return EXIT_OK
