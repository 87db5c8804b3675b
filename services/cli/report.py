"""`batchq report preview BATCH_ID [--json]`: the report this code would send, and how it differs from the one sent.

It reads the database directly (operator access, like `batchq status` without
`BATCHQ_API_URL`), also when `BATCHQ_API_URL` is set: the API has no such read.
What the diff compares is said in `services/reporter/preview.py` and the README.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from uuid import UUID

import orjson

from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.reporter.preview import Preview, preview


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="status reports (read from the database, as an operator)")
    actions = report.add_subparsers(dest="report_command", required=True)
    s = actions.add_parser("preview", help="render the batch's report with this code; diff it with the one sent")
    s.add_argument("batch_id", type=UUID)
    s.add_argument("--json", action="store_true")


def main(args: argparse.Namespace, settings: Settings) -> int:
    store = EventStore.from_url(settings.database_url, settings.database_schema)
    try:
        shown = preview(store, args.batch_id, settings.mail_from, datetime.now(UTC))
    finally:
        store.close()
    print(orjson.dumps(shown.as_dict()).decode() if args.json else text(shown))
    return 0


def text(shown: Preview) -> str:
    lines = [f"batch {shown.batch_id} is {shown.status}: {shown.note}"]
    if shown.now is not None:
        lines += ["", shown.now.text.rstrip("\n"), ""]
    if shown.now is not None and shown.sent is not None:
        lines.append(shown.diff.rstrip("\n") if shown.diff else "no difference from the report sent")
    elif shown.sent is not None:
        lines += ["", "the report sent, re-rendered:", "", shown.sent.text.rstrip("\n")]
    return "\n".join(lines)
