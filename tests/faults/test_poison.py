"""Poison: bad messages and always-failing jobs in a big batch end where they belong, and cost the rest little.

2,000 jobs (`BATCHQ_FAULTS_POISON_JOBS=10000` gives the issue's 10,000: a longer run, kept
out of the default one) of which 1 % always fail (`fail`, max_attempts 2), and 1 % more bad
messages published straight onto `batchq.jobs` (not JSON, or a schema_version this
code does not know). Each bad message is dead-lettered to
`batchq.jobs.default.rejected` once (the worker logs exactly one `message_rejected`
per bad message: no hot loop); each failing job runs twice and ends ABANDONED; every
good job completes exactly once; one report. The good jobs' p99 latency (JobSubmitted
to JobCompleted) is measured against a clean run of the same size on the same stack,
in the same test, so both see the same machine.
"""

from __future__ import annotations

import json
import os
import random
import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.broker import publish_raw, request, wait_for_dead_letters
from tests.e2e.cli import Cli, count_per_aggregate, job, new_id, submission, summary
from tests.e2e.mail import reports_for
from tests.e2e.processes import Processes
from tests.faults.private_servers import PrivatePostgres, PrivateRabbit
from tests.faults.verdict import judged, report, settled_and_sound
from tests.threaded_servers import SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

JOBS = int(os.environ.get("BATCHQ_FAULTS_POISON_JOBS", "2000"))
SETTLE_SECONDS = max(90, JOBS // 50)  # 2,000 jobs settle in well under 90 s here; a bigger run gets room
FAILING = JOBS // 100
BAD_MESSAGES = JOBS // 100
REJECTED_QUEUE = "batchq.jobs.default.rejected"
# The poison run's p99 may exceed the clean run's by 20 % plus this much: on 2 shared
# cores a whole batch drains in a few seconds, so a scheduling hiccup of a few hundred
# milliseconds elsewhere on the machine moves a p99 of that size by more than 20 %.
SLACK_SECONDS = 0.5


def latencies(events: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Seconds from JobSubmitted to JobCompleted, per completed job."""
    submitted: dict[str, datetime] = {}
    done: dict[str, float] = {}
    for event in events:
        at = datetime.fromisoformat(event["occurred_at"])
        if event["type"] == "JobSubmitted":
            submitted[event["aggregate_id"]] = at
        elif event["type"] == "JobCompleted":
            done[event["aggregate_id"]] = (at - submitted[event["aggregate_id"]]).total_seconds()
    return done


def p99(values: Iterable[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def bad_messages(count: int) -> list[tuple[str, Any]]:
    """Half not JSON, half of a schema_version from the future: (routing key, request) for `publish_raw`."""
    bodies: list[Any] = [
        b"\x00\xff not json" if i % 2 else {"schema_version": 2, "job_uuid": new_id(), "batch_id": new_id()}
        for i in range(count)
    ]
    return [("default", request(body)) for body in bodies]


def clean_run(cli: Cli, smtp_server: SmtpServer) -> float:
    doc = submission([job() for _ in range(JOBS)])
    cli.submit(doc)
    fault = "none: the clean run poison is measured against"
    settled_and_sound(cli, smtp_server, doc["batch_id"], JOBS, fault=fault, timeout=max(120, SETTLE_SECONDS))
    return p99(latencies(cli.events(batch_id=doc["batch_id"])).values())


@pytest.mark.timeout(max(180, JOBS // 15))
def test_poison_is_dead_lettered_or_abandoned_and_costs_the_good_jobs_little(
    private_rabbitmq: PrivateRabbit,
    private_postgres: PrivatePostgres,
    amqp_url: str,
    system: Processes,
    cli: Cli,
    smtp_server: SmtpServer,
) -> None:
    clean_p99 = clean_run(cli, smtp_server)

    failing = [job("fail", params={"code": "POISON", "reason": "always fails"}, max_attempts=2) for _ in range(FAILING)]
    jobs = [job() for _ in range(JOBS - FAILING)] + failing
    random.shuffle(jobs)
    doc = submission(jobs)
    bad = bad_messages(BAD_MESSAGES)
    cli.submit(doc)
    publish_raw(amqp_url, "batchq.jobs", bad)  # while the batch's own job messages are being dispatched
    status = cli.wait_for_batch(doc["batch_id"], "FAILED", timeout=SETTLE_SECONDS)

    failing_ids = {j["job_uuid"] for j in failing}
    states = {j["job_uuid"]: j["status"] for j in status["jobs"]}
    assert {states[u] for u in failing_ids} == {"ABANDONED"}, summary(status)
    assert {s for u, s in states.items() if u not in failing_ids} == {"COMPLETED"}, summary(status)
    events = cli.events(batch_id=doc["batch_id"])
    completed = count_per_aggregate(events, "JobCompleted")
    assert len(completed) == JOBS - FAILING and set(completed.values()) == {1}
    started = count_per_aggregate(events, "JobStarted")
    assert {started[u] for u in failing_ids} == {2}, "a failing job ran other than max_attempts times"

    dead = wait_for_dead_letters(amqp_url, REJECTED_QUEUE, BAD_MESSAGES, timeout=30)
    assert sorted(d.body for d in dead) == sorted(r.body for _, r in bad)
    rejected = [e for e in system.log_events("worker") if e["event"] == "message_rejected"]
    assert len(rejected) == BAD_MESSAGES, f"{len(rejected)} rejections of {BAD_MESSAGES} bad messages"

    smtp_server.wait_for(2, timeout=30)
    history = judged(cli, events, smtp_server)
    emails = len({str(m["Message-ID"]) for m in reports_for(smtp_server.messages, doc["batch_id"])})
    assert emails == 1
    poison_p99 = p99(v for u, v in latencies(events).items() if u not in failing_ids)
    report(
        f"poison: {FAILING} failing jobs and {BAD_MESSAGES} bad messages in {JOBS}",
        history,
        emails=emails,
        dead_lettered=len(dead),
        p99_clean_s=round(clean_p99, 3),
        p99_poison_s=round(poison_p99, 3),
    )
    assert poison_p99 <= clean_p99 * 1.2 + SLACK_SECONDS, json.dumps({"clean": clean_p99, "poison": poison_p99})
