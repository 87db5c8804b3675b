"""Competing workers and redelivered job messages.

Four workers on one 2,000-job batch with forced redeliveries of 200 job messages: at-least-once
delivery must still give each job exactly one effective run (no second JobStarted while an
attempt is unfinished, no job completed twice, none lost). And a redelivered or stray job message
must not start a job early: before its retry is due, or before its dependencies completed.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from tests.e2e.broker import publish_job_messages
from tests.e2e.cli import (
    Cli,
    count_per_aggregate,
    job,
    new_id,
    of_type,
    position_of,
    submission,
    types_of,
    unfinished_restarts,
)
from tests.e2e.mail import subject
from tests.e2e.processes import Processes
from tests.threaded_servers import SmtpServer

JOBS = 2000
REDELIVERED = 200
WORKERS = ["worker-1", "worker-2", "worker-3", "worker-4"]


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_four_workers_run_each_job_of_a_redelivered_batch_exactly_once(
    migrated: Cli, processes: Processes, cli: Cli, amqp_url: str, smtp_server: SmtpServer
) -> None:
    processes.start_many("dispatcher", *WORKERS, "reporter")
    jobs = [job() for _ in range(JOBS)]
    doc = submission(jobs)

    cli.submit(doc)
    # The same job messages again, as a broker redelivery after a lost ack would bring them:
    # half straight away (racing the originals), half once some jobs have finished.
    duplicates = [(j["job_uuid"], doc["batch_id"]) for j in jobs[:: JOBS // REDELIVERED]]
    publish_job_messages(amqp_url, duplicates[: REDELIVERED // 2])
    processes.wait_for_log("worker-1", "job_completed", count=20, timeout=60)
    publish_job_messages(amqp_url, duplicates[REDELIVERED // 2 :])

    status = cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=180)
    assert Counter(j["status"] for j in status["jobs"]) == {"COMPLETED": JOBS}
    events = cli.events(batch_id=doc["batch_id"])
    completed = count_per_aggregate(events, "JobCompleted")
    twice = {job_uuid: n for job_uuid, n in completed.items() if n > 1}
    assert twice == {}, f"{len(twice)} jobs completed more than once"
    assert len(completed) == JOBS, f"{JOBS - len(completed)} jobs never completed"
    fenced = [e for e in events if e["type"] == "JobFailed"]
    assert fenced == [], f"{len(fenced)} healthy attempts were failed (no worker died): {fenced[:3]}"
    restarted = unfinished_restarts(events)
    assert restarted == {}, f"{len(restarted)} jobs started again while running: {list(restarted.items())[:3]}"
    assert types_of(events, doc["batch_id"]) == [
        "BatchSubmitted",
        "BatchStarted",
        "BatchReportingStarted",
        "BatchReported",
        "BatchCompleted",
    ]
    [email] = smtp_server.wait_for(1)
    assert doc["batch_id"] in subject(email) and "COMPLETED" in subject(email)
    ran_on = Counter(e["data"]["worker_id"] for e in events if e["type"] == "JobStarted")
    assert set(ran_on) <= set(WORKERS), ran_on
    assert len(smtp_server.messages) == 1


@pytest.mark.batchq_env(BATCHQ_RETRY_BASE_SECONDS="4")
def test_a_redelivered_job_message_does_not_start_a_retry_before_it_is_due(
    system: Processes, cli: Cli, amqp_url: str
) -> None:
    flaky = new_id()
    doc = submission([job("flaky", job_uuid=flaky, params={"fail_times": 1}, max_attempts=2)])
    cli.submit(doc)
    cli.wait_for_events(
        lambda evs: bool(of_type(evs, "JobRetried", flaky)), job_uuid=flaky, what="the automatic retry", interval=0.1
    )

    publish_job_messages(amqp_url, [(flaky, doc["batch_id"])])  # the first dispatch, redelivered

    cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=30)
    events = cli.events(job_uuid=flaky)
    [retried] = of_type(events, "JobRetried")
    second_start = of_type(events, "JobStarted")[1]
    assert moment(second_start["occurred_at"]) >= moment(retried["data"]["not_before"]), (
        f"attempt 2 started at {second_start['occurred_at']}, due at {retried['data']['not_before']}"
    )


def test_a_stray_job_message_does_not_start_a_job_before_its_dependencies_complete(
    system: Processes, cli: Cli, amqp_url: str
) -> None:
    first, dependent = new_id(), new_id()
    doc = submission([job("sleep", job_uuid=first, params={"seconds": 3}), job(job_uuid=dependent, depends_on=[first])])
    cli.submit(doc)
    system.wait_for_log("worker", "job_started")

    publish_job_messages(amqp_url, [(dependent, doc["batch_id"])])

    cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=30)
    events = cli.events(batch_id=doc["batch_id"])
    assert position_of(events, "JobStarted", dependent) > position_of(events, "JobCompleted", first)
