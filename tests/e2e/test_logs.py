"""One JSON log line per state change, with job_uuid, batch_id, subject_ref and trace_id (README, QUEUE-017).

The depositor is named by `subject_ref`, the keyed hash of the key table, never by
`user_id` (QUEUE-022): no log line of any service holds the plain user id.

A batch goes through every kind of job and batch change (submitted, started,
progressed, completed, failed, retried automatically and by an admin, abandoned,
cancelled, skipped; the batch started, reporting, reported, failed), and every
stored event of it must have exactly one log line, in whichever service stored it.
"""

from __future__ import annotations

import re

from tests.e2e.cli import Cli, job, new_id, submission
from tests.e2e.processes import Processes
from tests.threaded_servers import SmtpServer

SERVICES = ("dispatcher", "worker", "reporter")


def log_name(event_type: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event_type).lower()


def test_every_stored_event_has_exactly_one_log_line_with_its_ids(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    doomed, after_doomed, owner, copy = new_id(), new_id(), new_id(), new_id()
    item = {"key": "release-1", "version": 1, "target": "retailer-x"}
    doc = submission(
        [
            job("sleep", params={"seconds": 3}),
            job("fail", job_uuid=doomed, params={"code": "BAD", "reason": "no"}, max_attempts=2),
            job(job_uuid=after_doomed, depends_on=[doomed]),
            job(job_uuid=owner, item=item),
            job(job_uuid=copy, item=item, depends_on=[owner]),
        ],
        trace_id="trace-of-the-log-test",
    )
    cli.submit(doc)
    cli.wait_for_batch(doc["batch_id"], "FAILED")
    smtp_server.wait_for(1)
    retried = cli.ok("retry", doomed, "--override", "--reason", "try once more")

    lines = [e for name in SERVICES for e in system.log_events(name)]
    [done] = [e for e in lines if e.get("event") == "command_done"]
    ref = done["subject_ref"]
    assert (len(ref), done["trace_id"], done["batch_id"]) == (32, doc["trace_id"], doc["batch_id"])
    assert retried.code == 0

    cli.wait_for_batch(doc["batch_id"], "FAILED")
    events = cli.events(batch_id=doc["batch_id"])
    types = {e["type"] for e in events}
    assert {"JobSubmitted", "JobSkipped", "JobCancelled", "JobAbandoned", "JobRetried", "JobProgressed"} <= types
    assert {"BatchStarted", "BatchReportingStarted", "BatchReported", "BatchFailed"} <= types

    lines = [e for name in SERVICES for e in system.log_events(name)]
    missing, doubled, wrong_ids = [], [], []
    for event in events:
        found = [
            line
            for line in lines
            if line.get("event") == log_name(event["type"])
            and line.get("aggregate_id") == event["aggregate_id"]
            and line.get("aggregate_version") == event["aggregate_version"]
        ]
        if not found:
            missing.append(event["type"])
            continue
        if len(found) > 1:
            doubled.append(event["type"])
        [line] = found[:1]
        ids = (line.get("batch_id"), line.get("subject_ref"), line.get("trace_id"), line.get("position"))
        if ids != (doc["batch_id"], ref, doc["trace_id"], event["position"]):
            wrong_ids.append((event["type"], ids))
        if event["aggregate_type"] == "job" and line.get("job_uuid") != event["aggregate_id"]:
            wrong_ids.append((event["type"], "job_uuid"))
    assert (missing, doubled, wrong_ids) == ([], [], [])
    assert [line for line in lines if "depositor-7" in str(line)] == []
