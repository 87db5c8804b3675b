"""The README's "Upgrading" procedure, mid-batch: SIGTERM every service, take a checkpoint, dry-run
and run the migrations, start the services again; the batch finishes with nothing lost or repeated.
And a rolling upgrade: a worker of a new version (its handler registry has `sleep` at version 2) runs
beside one of the old version on the same batch, which finishes with each job completed once."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Cli, count_per_aggregate, job, submission, unfinished_restarts
from tests.e2e.mail import reports_for
from tests.e2e.processes import Processes
from tests.e2e.test_checkpoint import completions_after_last_start
from tests.faults.checker import check
from tests.threaded_servers import SmtpServer

SERVICES = ("dispatcher", "worker", "reporter")


@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="4")
def test_the_upgrade_procedure_mid_batch_loses_and_repeats_nothing(
    system: Processes, cli: Cli, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    doc = submission([job("sleep", params={"seconds": 0.3}) for _ in range(60)])
    cli.submit(doc)
    system.wait_for_log("worker", "job_completed", count=5, timeout=60)

    for name in SERVICES:
        system.kill(name, signal.SIGTERM)
    cli.ok("checkpoint", "create", "--out", str(tmp_path / "before-upgrade"), "--label", "before-upgrade")
    dry_run = cli.ok("migrate", "--dry-run")
    cli.ok("migrate")
    assert not smtp_server.messages, "the batch finished before the stop: the test proves nothing"
    system.start_many(*SERVICES)

    status = cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=120)
    assert "nothing to do" in dry_run.stdout
    assert {j["status"] for j in status["jobs"]} == {"COMPLETED"}
    events = cli.events(batch_id=doc["batch_id"])
    completed = count_per_aggregate(events, "JobCompleted")
    assert len(completed) == 60 and set(completed.values()) == {1}
    assert unfinished_restarts(events) == {}
    assert len(reports_for(smtp_server.wait_for(1), doc["batch_id"])) == 1 and len(smtp_server.messages) == 1
    check(events, smtp_server.messages).assert_sound()


NEW_HANDLERS = '''"""batchq handlers, version 2: `sleep` says which version ran it."""

import asyncio


async def sleep(ctx):
    seconds = float(ctx.params.get("seconds", 1))
    await asyncio.sleep(seconds)
    return {"slept": seconds, "handler_version": 2}
'''


def new_version(folder: Path) -> dict[str, str]:
    """The environment of a worker whose handler registry has `sleep` at version 2: a distribution on its
    PYTHONPATH registering it under the entry-point group `batchq.handlers`, as an installed package would."""
    folder.mkdir()
    (folder / "batchq_handlers_v2.py").write_text(NEW_HANDLERS)
    dist = folder / "batchq_handlers_v2-2.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: batchq-handlers-v2\nVersion: 2.0\n")
    (dist / "entry_points.txt").write_text("[batchq.handlers]\nsleep = batchq_handlers_v2:sleep\n")
    return {"PYTHONPATH": str(folder)}


def completions(events: list[dict[str, Any]], after: int) -> list[tuple[str, dict[str, Any] | None]]:
    """(worker that started the attempt, result) of every JobCompleted after position `after`."""
    started_by: dict[str, str] = {}
    found = []
    for event in events:
        if event["type"] == "JobStarted":
            started_by[event["aggregate_id"]] = event["data"]["worker_id"]
        elif event["type"] == "JobCompleted" and event["position"] > after:
            found.append((started_by[event["aggregate_id"]], event["data"].get("result")))
    return found


def started_before_dependency_completed(events: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> list[str]:
    completed_at = {e["aggregate_id"]: e["position"] for e in events if e["type"] == "JobCompleted"}
    first_start: dict[str, int] = {}
    for e in events:
        if e["type"] == "JobStarted":
            first_start.setdefault(e["aggregate_id"], e["position"])
    return [
        j["job_uuid"]
        for j in jobs
        for dependency in j.get("depends_on", [])
        if first_start[j["job_uuid"]] < completed_at[dependency]
    ]


@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="16")
def test_a_rolling_upgrade_mid_batch_with_old_and_new_workers_side_by_side(
    system: Processes, cli: Cli, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    first = [job("sleep", params={"seconds": 0.01}) for _ in range(1000)]
    then = [job("sleep", params={"seconds": 0.01}, depends_on=[j["job_uuid"]]) for j in first]
    doc = submission(first + then)
    cli.submit(doc)
    system.wait_for_log("worker", "job_completed", count=300, timeout=180)

    for name in SERVICES:
        system.kill(name, signal.SIGTERM)
    assert not smtp_server.messages, "the batch finished before the stop: the test proves nothing"
    cli.ok("migrate")
    upgraded_at = max(e["position"] for e in cli.events(batch_id=doc["batch_id"]))
    system.start_many("dispatcher", "reporter", "worker")  # the old version's worker, back
    system.start("worker-v2", env=new_version(tmp_path / "new-version"))

    status = cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=600)
    events = cli.events(batch_id=doc["batch_id"])
    after = completions(events, upgraded_at)
    assert {j["status"] for j in status["jobs"]} == {"COMPLETED"}
    assert completions_after_last_start(events) == Counter({j["job_uuid"]: 1 for j in doc["jobs"]})
    assert set(count_per_aggregate(events, "JobCompleted").values()) == {1}
    assert unfinished_restarts(events) == {}
    assert started_before_dependency_completed(events, doc["jobs"]) == []
    by_new = [result for worker, result in after if worker == "worker-v2"]
    by_old = [result for worker, result in after if worker == "worker"]
    assert by_new and by_old, f"both versions should have run jobs: new {len(by_new)}, old {len(by_old)}"
    assert all(r and r.get("handler_version") == 2 for r in by_new)
    assert all(r and "handler_version" not in r for r in by_old)
    assert len(reports_for(smtp_server.wait_for(1), doc["batch_id"])) == 1 and len(smtp_server.messages) == 1
    check(events, smtp_server.messages).assert_sound()
