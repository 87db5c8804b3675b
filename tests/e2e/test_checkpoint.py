"""Checkpoints as an operator uses them before an upgrade: taken mid-batch, everything SIGKILLed,
restored into a fresh database, services started there, and the batch finishes as if nothing
had happened; a restore over existing tables is refused; `--drain` leaves no attempt in flight.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest

from tests.e2e.cli import Cli, count_per_aggregate, job, submission, unfinished_restarts
from tests.e2e.mail import reports_for
from tests.e2e.processes import Processes
from tests.e2e.test_cli import assert_one_clear_line
from tests.faults.checker import check
from tests.servers import PostgresServer, RabbitServer
from tests.threaded_servers import HttpServer, SmtpServer

SERVICES = ("dispatcher", "worker", "reporter")


def completions_after_last_start(events: list[dict[str, object]]) -> Counter[str]:
    """Per job: how many `JobCompleted` follow its last `JobStarted`."""
    last_start: dict[str, int] = {}
    for index, event in enumerate(events):
        if event["type"] == "JobStarted":
            last_start[str(event["aggregate_id"])] = index
    return Counter(
        str(e["aggregate_id"])
        for index, e in enumerate(events)
        if e["type"] == "JobCompleted" and index > last_start.get(str(e["aggregate_id"]), -1)
    )


@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="4")
def test_a_checkpoint_taken_mid_batch_restored_into_a_fresh_database_finishes_the_batch_there(
    migrated: Cli,
    processes: Processes,
    cli: Cli,
    smtp_server: SmtpServer,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    processes.start_many(*SERVICES)
    doc = submission([job("sleep", params={"seconds": 1}) for _ in range(40)])  # 10 s at 4 at a time
    cli.submit(doc)
    processes.wait_for_log("worker", "job_completed", count=6, timeout=60)
    out = tmp_path / "checkpoint"

    created = cli.ok("checkpoint", "create", "--out", str(out), "--label", "before-upgrade")
    for name in SERVICES:
        processes.kill(name, signal.SIGKILL)
    manifest = json.loads((out / "manifest.json").read_text())
    listed = cli.ok("checkpoint", "list", "--dir", str(tmp_path))

    assert not smtp_server.messages, "the batch finished before the kill: the test proves nothing"
    assert "before-upgrade" in listed.stdout and str(manifest["position"]) in created.stdout
    assert "CheckpointCreated" in {e["type"] for e in cli.events(since=manifest["position"])}
    with postgres_server.isolated_database() as fresh:
        cli.ok("checkpoint", "restore", str(out), "--database", fresh)
        restored = Cli({**cli.env, "BATCHQ_DATABASE_URL": fresh}, cli.work_dir)
        assert max(e["position"] for e in restored.events()) == manifest["position"]
        at_restore = Counter(j["status"] for j in restored.ok("status", doc["batch_id"], "--json").json()["jobs"])
        processes.env["BATCHQ_DATABASE_URL"] = fresh
        try:
            processes.start_many("dispatcher-2", "worker-2", "reporter-2")
            status = restored.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=120)
            events = restored.events(batch_id=doc["batch_id"])
            mails = smtp_server.wait_for(1)
        finally:
            processes.stop_all()

    assert at_restore["PROCESSING"] > 0 and at_restore["PENDING"] > 0, at_restore  # attempts in flight, work owed
    assert {j["status"] for j in status["jobs"]} == {"COMPLETED"}
    jobs = {j["job_uuid"] for j in doc["jobs"]}
    assert completions_after_last_start(events) == Counter(dict.fromkeys(jobs, 1))
    assert set(count_per_aggregate(events, "JobCompleted").values()) == {1}
    assert unfinished_restarts(events) == {}
    assert len(reports_for(mails, doc["batch_id"])) == 1 and len(smtp_server.messages) == 1
    check(events, smtp_server.messages).assert_sound()


def test_a_restore_into_a_database_with_tables_is_refused_in_one_line(migrated: Cli, tmp_path: Path) -> None:
    out = tmp_path / "checkpoint"
    migrated.ok("checkpoint", "create", "--out", str(out))

    result = migrated.run("checkpoint", "restore", str(out), "--database", migrated.env["BATCHQ_DATABASE_URL"])

    assert result.code == 1, str(result)
    assert_one_clear_line(result.stderr, "refused", "not empty")


def test_a_checkpoint_whose_files_changed_is_refused(
    migrated: Cli, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    out = tmp_path / "checkpoint"
    migrated.ok("checkpoint", "create", "--out", str(out))
    with (out / "store.dump").open("ab") as dump:
        dump.write(b"tampered")

    with postgres_server.isolated_database() as fresh:
        result = migrated.run("checkpoint", "restore", str(out), "--database", fresh)

    assert result.code == 1, str(result)
    assert_one_clear_line(result.stderr, "store.dump does not match its checksum")


@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="4")
def test_a_drained_checkpoint_pauses_the_queue_and_holds_no_running_job(
    system: Processes, cli: Cli, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    doc = submission([job("sleep", params={"seconds": 1}) for _ in range(40)])
    cli.submit(doc)
    system.wait_for_log("worker", "job_started", count=4, timeout=60)
    out = tmp_path / "checkpoint"

    cli.ok("checkpoint", "create", "--out", str(out), "--drain", "--label", "drained")

    with postgres_server.isolated_database() as fresh:
        cli.ok("checkpoint", "restore", str(out), "--database", fresh)
        restored = Cli({**cli.env, "BATCHQ_DATABASE_URL": fresh}, cli.work_dir)
        statuses = Counter(j["status"] for j in restored.ok("status", doc["batch_id"], "--json").json()["jobs"])
        queue_events = [e["type"] for e in restored.events() if e["aggregate_type"] == "queue"]
    assert statuses["PROCESSING"] == 0 and statuses["PENDING"] > 0, statuses
    assert queue_events[-1] == "QueuePaused"
    assert json.loads((out / "manifest.json").read_text())["drained"] is True


def test_the_broker_definitions_are_saved_when_the_management_api_answers(
    migrated: Cli, http_server: HttpServer, tmp_path: Path
) -> None:
    vhost = unquote(urlsplit(migrated.env["BATCHQ_AMQP_URL"]).path[1:])
    definitions = {"queues": [{"name": "batchq.jobs.default", "vhost": vhost}], "exchanges": []}
    http_server.add(f"/api/definitions/{quote(vhost, safe='')}", definitions)
    cli = Cli({**migrated.env, "BATCHQ_RABBITMQ_MANAGEMENT_URL": http_server.url("")}, tmp_path)
    out = tmp_path / "checkpoint"

    cli.ok("checkpoint", "create", "--out", str(out))

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["broker"]["saved"] is True and manifest["broker"]["vhost"] == vhost
    assert json.loads((out / "broker-definitions.json").read_text()) == {**definitions, "bindings": []}
    assert set(manifest["files"]) == {"store.dump", "broker-definitions.json"}


def test_without_the_management_api_the_manifest_says_why(migrated: Cli, tmp_path: Path) -> None:
    cli = Cli({**migrated.env, "BATCHQ_RABBITMQ_MANAGEMENT_URL": "http://127.0.0.1:9"}, tmp_path)
    out = tmp_path / "checkpoint"

    created = cli.ok("checkpoint", "create", "--out", str(out))

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["broker"]["saved"] is False and "not reachable" in manifest["broker"]["reason"]
    assert "broker definitions not saved" in created.stdout


def topology(definitions: dict[str, Any]) -> dict[str, set[tuple[str, ...]]]:
    """The queues (with their type), exchanges and bindings of a vhost's definitions."""
    return {
        "queues": {(q["name"], str(q["arguments"].get("x-queue-type", "classic"))) for q in definitions["queues"]},
        "exchanges": {(e["name"], e["type"]) for e in definitions["exchanges"]},
        "bindings": {(b["source"], b["destination"], b["routing_key"]) for b in definitions["bindings"]},
    }


def test_a_restore_loads_the_broker_definitions_into_the_vhost_of_batchq_amqp_url_unless_told_not_to(
    migrated: Cli, rabbitmq_server: RabbitServer, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    out = tmp_path / "checkpoint"
    migrated.ok("checkpoint", "create", "--out", str(out))
    saved = topology(json.loads((out / "broker-definitions.json").read_text()))
    found = {}
    for name, flags in (("loaded", []), ("skipped", ["--no-broker"])):
        with rabbitmq_server.isolated_vhost() as vhost_url, postgres_server.isolated_database() as fresh:
            elsewhere = Cli({**migrated.env, "BATCHQ_AMQP_URL": vhost_url, "BATCHQ_DATABASE_URL": fresh}, tmp_path)
            restored = elsewhere.ok("checkpoint", "restore", str(out), "--database", fresh, *flags)
            elsewhere.ok("checkpoint", "create", "--out", str(tmp_path / name))  # what that vhost holds now
            found[name] = (
                restored.stdout,
                topology(json.loads((tmp_path / name / "broker-definitions.json").read_text())),
            )

    assert "batchq.jobs.default" in {queue for queue, _ in saved["queues"]} and saved["bindings"]
    assert found["loaded"][1] == saved and "broker definitions of vhost" in found["loaded"][0]
    assert "loaded into" in found["loaded"][0]
    assert found["skipped"][1] == {"queues": set(), "exchanges": set(), "bindings": set()}
    assert "not loaded (--no-broker)" in found["skipped"][0]
