"""`batchq canary start|status|promote|abort` (CONTRACT v1.1, upgrades).

`status` compares the two pools since the stage started, read from the store
(operator access): attempts started, completed and failed per pool, and the
median time from start to outcome.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any
from uuid import UUID

import orjson

from domain.canary import CANARY_ID, Canary
from domain.job import JobCompleted, JobFailed, JobStarted
from services.adapters.store import EventStore

OUTCOME_TOPICS = tuple(f"batchq:{c.__name__}" for c in (JobStarted, JobCompleted, JobFailed))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    canary = sub.add_parser("canary", help="send a share of new jobs to the worker pool canary (operators only)")
    actions = canary.add_subparsers(dest="canary_command", required=True)
    s = actions.add_parser("start", help="from now on, PERCENT %% of new jobs go to the pool canary")
    s.add_argument("--percent", type=float, required=True)
    s.add_argument("--tenant", help="only this tenant's jobs")
    s.add_argument("--reason", default="")
    actions.add_parser("status", help="the canary against default since it started").add_argument(
        "--json", action="store_true"
    )
    for name, help_text in (("promote", "end it: the new version is good"), ("abort", "end it: jobs back to default")):
        actions.add_parser(name, help=help_text).add_argument("--reason", default="")


def command(args: argparse.Namespace) -> dict[str, Any]:
    if args.canary_command == "start":
        return {"command": "start_canary", "percent": args.percent, "tenant": args.tenant, "reason": args.reason}
    return {"command": f"{args.canary_command}_canary", "reason": args.reason}


def status(store: EventStore, as_json: bool) -> str:
    history = store.history([CANARY_ID])
    canary: Canary | None = store.get_many([CANARY_ID]).get(CANARY_ID)
    if canary is None or canary.stage is None:
        return orjson.dumps({"running": False}).decode() if as_json else "no canary is running"
    since = max(r.position for r in history)
    pools = compare(store, since)
    doc = {"running": True, "percent": canary.stage.percent, "tenant": canary.stage.tenant, "pools": pools}
    if as_json:
        return orjson.dumps(doc).decode()
    lines = [f"canary: {canary.stage.percent:g} % of new jobs of {canary.stage.tenant or 'every tenant'}"]
    lines.append(f"{'POOL':8}  {'STARTED':>8}  {'COMPLETED':>9}  {'FAILED':>6}  MEDIAN SECONDS")
    for pool, row in pools.items():
        median = "-" if row["median_seconds"] is None else f"{row['median_seconds']:.3f}"
        lines.append(f"{pool:8}  {row['started']:>8}  {row['completed']:>9}  {row['failed']:>6}  {median}")
    return "\n".join(lines)


def compare(store: EventStore, since: int) -> dict[str, dict[str, Any]]:
    """Per pool: attempts started since `since`, their outcomes, and the median start-to-outcome time."""
    started: dict[UUID, tuple[str, Any]] = {}
    rows = {pool: {"started": 0, "completed": 0, "failed": 0, "seconds": []} for pool in ("default", "canary")}
    while records := store.read(since, 10_000, topics=OUTCOME_TOPICS):
        for record in records:
            event = record.event
            if isinstance(event, JobStarted):
                started[event.originator_id] = (event.pool, event.timestamp)
                rows.setdefault(event.pool, {"started": 0, "completed": 0, "failed": 0, "seconds": []})
                rows[event.pool]["started"] += 1
            elif event.originator_id in started:
                pool, at = started.pop(event.originator_id)
                rows[pool]["completed" if isinstance(event, JobCompleted) else "failed"] += 1
                rows[pool]["seconds"].append((event.timestamp - at).total_seconds())
        since = records[-1].position
    return {
        pool: {**{k: v for k, v in row.items() if k != "seconds"}, "median_seconds": _median(row["seconds"])}
        for pool, row in rows.items()
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
