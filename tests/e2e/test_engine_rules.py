"""The job engine's rules, end to end: dependencies, automatic retries with backoff, abandoning,
item idempotency, pausing the queue (and managing batches while it is paused), and concurrent
producers of one batch.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from tests.e2e.broker import publish_requests, request
from tests.e2e.cli import (
    Cli,
    count_per_aggregate,
    job,
    job_doc,
    job_states,
    new_id,
    of_type,
    position_of,
    submission,
    types_of,
)
from tests.e2e.mail import body, job_line, reports_for
from tests.e2e.processes import Processes
from tests.threaded_servers import SmtpServer

RETRY_BASE_SECONDS = 0.2  # BATCHQ_RETRY_BASE_SECONDS of the e2e environment
JITTER = 0.2  # the backoff's documented ± jitter fraction


def when(event: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_failed_dependency_cancels_its_dependents_transitively(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    a, b, c, d, e, p, q = (new_id() for _ in range(7))
    doc = submission(
        [
            job(job_uuid=e, depends_on=[c]),
            job(job_uuid=c, depends_on=[b]),
            job("fail", job_uuid=b, depends_on=[a], params={"code": "ENGINE_DOWN", "reason": "engine crashed"}),
            job(job_uuid=d, depends_on=[b]),
            job(job_uuid=a),
            job(job_uuid=q, depends_on=[p]),
            job(job_uuid=p),
        ]
    )

    cli.submit(doc)

    status = cli.wait_for_batch(doc["batch_id"], "FAILED")
    assert job_states(status) == {
        a: "COMPLETED",
        b: "FAILED",
        c: "CANCELLED",
        d: "CANCELLED",
        e: "CANCELLED",
        p: "COMPLETED",
        q: "COMPLETED",
    }
    events = cli.events(batch_id=doc["batch_id"])
    assert position_of(events, "JobStarted", b) > position_of(events, "JobCompleted", a)
    assert position_of(events, "JobStarted", q) > position_of(events, "JobCompleted", p)
    for cancelled in (c, d, e):
        assert types_of(events, cancelled) == ["JobSubmitted", "JobCancelled"], cancelled
        assert position_of(events, "JobCancelled", cancelled) > position_of(events, "JobFailed", b)
    for direct in (c, d):
        [cancel] = of_type(events, "JobCancelled", direct)
        assert cancel["data"]["cause_job_uuid"] == b or b in cancel["data"]["reason"]
    [email] = smtp_server.wait_for(1)
    assert "FAILED" in str(email["Subject"])
    assert "ENGINE_DOWN" in job_line(body(email), b)
    assert all("CANCELLED" in job_line(body(email), x) for x in (c, d, e))


def test_a_flaky_job_succeeds_on_its_third_automatic_attempt_after_growing_backoff(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    flaky = new_id()
    doc = submission([job("flaky", job_uuid=flaky, params={"fail_times": 2}, max_attempts=3)])

    cli.submit(doc)

    status = cli.wait_for_batch(doc["batch_id"], "COMPLETED")
    assert job_doc(status, flaky)["attempts"] == 3
    events = [ev for ev in cli.events(batch_id=doc["batch_id"]) if ev["aggregate_id"] == flaky]
    assert types_of(events) == [
        "JobSubmitted",
        "JobStarted",
        "JobFailed",
        "JobRetried",
        "JobStarted",
        "JobFailed",
        "JobRetried",
        "JobStarted",
        "JobCompleted",
    ]
    assert [ev["data"]["attempt"] for ev in of_type(events, "JobStarted")] == [1, 2, 3]
    assert of_type(events, "JobCompleted")[0]["data"]["attempt"] == 3
    retries = of_type(events, "JobRetried")
    assert all(r["data"]["automatic"] is True for r in retries)
    not_before = [moment(r["data"]["not_before"]) for r in retries]
    delays = [(nb - when(r)).total_seconds() for nb, r in zip(not_before, retries, strict=True)]
    # attempt n waits base * 2**(n-1), ± jitter: about 0.2 s, then about 0.4 s.
    assert delays[0] >= RETRY_BASE_SECONDS * (1 - JITTER) - 0.001, delays
    assert delays[1] >= 2 * RETRY_BASE_SECONDS * (1 - JITTER) - 0.001, delays
    assert not_before[0] < not_before[1] and delays[0] < delays[1], delays
    # The backoff is honoured: no attempt starts before its not_before.
    starts = of_type(events, "JobStarted")
    for retried_until, next_start in zip(not_before, starts[1:], strict=True):
        assert when(next_start) >= retried_until - timedelta(milliseconds=5), (next_start, retried_until)
    failures = of_type(events, "JobFailed")
    assert [f["data"]["error"]["code"] for f in failures] == ["FLAKY", "FLAKY"]
    assert len(smtp_server.wait_for(1)) == 1


def test_a_job_that_always_fails_is_abandoned_after_max_attempts(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    doomed, fine = new_id(), new_id()
    doc = submission(
        [
            job("fail", job_uuid=doomed, params={"code": "BAD_PAYLOAD", "reason": "never parses"}, max_attempts=2),
            job(job_uuid=fine),
        ]
    )

    cli.submit(doc)

    status = cli.wait_for_batch(doc["batch_id"], "FAILED")
    assert job_states(status) == {doomed: "ABANDONED", fine: "COMPLETED"}
    assert job_doc(status, doomed)["attempts"] == 2
    events = cli.events(batch_id=doc["batch_id"])
    assert types_of(events, doomed) == [
        "JobSubmitted",
        "JobStarted",
        "JobFailed",
        "JobRetried",
        "JobStarted",
        "JobFailed",
        "JobAbandoned",
    ]
    assert position_of(events, "BatchReportingStarted") > position_of(events, "JobAbandoned", doomed)
    [email] = smtp_server.wait_for(1)
    assert "FAILED" in str(email["Subject"])
    line = job_line(body(email), doomed)
    assert "ABANDONED" in line and "BAD_PAYLOAD" in line


def test_item_idempotency_skips_done_and_failed_items_and_runs_a_new_version(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    release = {"key": "release-42", "version": 2, "target": "retailer-x"}
    broken_release = {"key": "release-43", "version": 1, "target": "retailer-x"}
    first, second, third = new_id(), new_id(), new_id()
    failed_first, failed_again = new_id(), new_id()

    batch1 = submission([job(job_uuid=first, item=release), job("fail", job_uuid=failed_first, item=broken_release)])
    cli.submit(batch1)
    cli.wait_for_batch(batch1["batch_id"], "FAILED")

    batch2 = submission([job(job_uuid=second, item=release), job("noop", job_uuid=failed_again, item=broken_release)])
    cli.submit(batch2)
    status2 = cli.wait_for_batch(batch2["batch_id"], "FAILED")

    assert job_states(status2) == {second: "SKIPPED", failed_again: "SKIPPED"}
    events2 = cli.events(batch_id=batch2["batch_id"])
    assert types_of(events2, second) == ["JobSubmitted", "JobSkipped"]
    [skipped] = of_type(events2, "JobSkipped", second)
    assert skipped["data"]["earlier_job_uuid"] == first
    assert first in skipped["data"]["reason"]
    assert skipped["data"]["as_done"] is True
    [skipped_failed] = of_type(events2, "JobSkipped", failed_again)
    assert skipped_failed["data"]["earlier_job_uuid"] == failed_first
    assert skipped_failed["data"]["as_done"] is False  # a FAILED item is not done: this batch FAILED
    assert "JobStarted" not in types_of(events2)

    batch3 = submission([job(job_uuid=third, item={**release, "version": 3})])
    cli.submit(batch3)
    status3 = cli.wait_for_batch(batch3["batch_id"], "COMPLETED")

    assert job_states(status3) == {third: "COMPLETED"}
    assert types_of(cli.events(batch_id=batch3["batch_id"]), third) == ["JobSubmitted", "JobStarted", "JobCompleted"]
    emails = smtp_server.wait_for(3)
    [report2] = reports_for(emails, batch2["batch_id"])
    assert first in job_line(body(report2), second)


def test_no_job_starts_while_the_queue_is_paused(system: Processes, cli: Cli, smtp_server: SmtpServer) -> None:
    paused = cli.run("pause", "--reason", "maintenance")
    assert paused.code == 0, str(paused)
    assert paused.json()["ok"] is True
    doc = submission([job(), job(), job()])
    cli.submit(doc)

    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # reads and status keep working while paused
        status = cli.status(doc["batch_id"])
        assert status["status"] == "PROCESSING"
        assert set(job_states(status).values()) == {"PENDING"}, status
    assert "JobStarted" not in types_of(cli.events(batch_id=doc["batch_id"]))

    resumed = cli.run("resume")
    assert resumed.code == 0, str(resumed)

    cli.wait_for_batch(doc["batch_id"], "COMPLETED")
    everything = cli.events()
    paused_at = position_of(everything, "QueuePaused")
    resumed_at = position_of(everything, "QueueResumed")
    batch_starts = [ev["position"] for ev in of_type(everything, "JobStarted") if ev["batch_id"] == doc["batch_id"]]
    assert paused_at < position_of(everything, "BatchSubmitted") < resumed_at < min(batch_starts)
    assert len(smtp_server.wait_for(1)) == 1


def test_concurrent_producers_of_one_batch_id_create_exactly_one_batch(
    system: Processes, cli: Cli, amqp_url: str, smtp_server: SmtpServer
) -> None:
    batch_id, shared = new_id(), new_id()
    variants = [submission([job(job_uuid=shared), job(), job()], batch_id=batch_id) for _ in range(10)]
    requests = [request(v) for v in variants]

    replies = publish_requests(amqp_url, requests, producers=len(requests))

    answers = [replies[r.correlation_id] for r in requests]
    accepted = [i for i, a in enumerate(answers) if a["ok"]]
    assert len(accepted) == 1, answers
    assert answers[accepted[0]]["result"]["duplicate"] is False
    refused = [a["error"]["code"] for a in answers if not a["ok"]]
    assert set(refused) <= {"DUPLICATE_BATCH", "DUPLICATE_JOB"}, refused
    winner = variants[accepted[0]]

    status = cli.wait_for_batch(batch_id, "COMPLETED")
    assert [j["job_uuid"] for j in status["jobs"]] == [j["job_uuid"] for j in winner["jobs"]]
    everything = cli.events()
    assert count_per_aggregate(everything, "BatchSubmitted") == {batch_id: 1}
    submitted = count_per_aggregate(everything, "JobSubmitted")
    assert submitted[shared] == 1
    all_jobs = {j["job_uuid"] for v in variants for j in v["jobs"]}
    assert {j for j in all_jobs if submitted[j]} == {j["job_uuid"] for j in winner["jobs"]}
    assert max(submitted.values()) == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_no_job_starts_after_a_pause_mid_batch_is_acknowledged(system: Processes, cli: Cli) -> None:
    doc = submission([job() for _ in range(1500)])
    cli.submit(doc)
    system.wait_for_log("worker", "job_completed", count=200, timeout=60)

    paused = cli.run("pause")

    assert paused.code == 0, str(paused)
    system.wait_for_log("worker", "queue_paused", timeout=30)  # from here on the worker claims nothing
    everything = cli.events()
    paused_at = position_of(everything, "QueuePaused")
    late = [e for e in of_type(everything, "JobStarted") if e["position"] > paused_at]
    assert late == [], f"{len(late)} jobs started after the pause was recorded and acknowledged"


def test_while_paused_an_admin_cancels_a_job_with_its_dependents_and_deletes_a_batch(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    cli.ok("pause")
    a, b, c = new_id(), new_id(), new_id()
    kept = submission([job(job_uuid=a), job(job_uuid=b, depends_on=[a]), job(job_uuid=c)])
    dropped = submission([job(), job()])
    cli.submit(kept)
    cli.submit(dropped)

    cancelled = cli.run("cancel", a)
    deleted = cli.run("delete", dropped["batch_id"])

    assert cancelled.code == 0, str(cancelled)
    assert cancelled.json()["result"]["cancelled_dependents"] == [b]
    assert deleted.code == 0, str(deleted)
    assert job_states(cli.status(kept["batch_id"])) == {a: "CANCELLED", b: "CANCELLED", c: "PENDING"}
    gone = cli.status(dropped["batch_id"])
    assert gone["status"] == "DELETED" and set(job_states(gone).values()) == {"CANCELLED"}

    cli.ok("resume")

    status = cli.wait_for_batch(kept["batch_id"], "FAILED")  # cancelled jobs are not done
    assert job_states(status)[c] == "COMPLETED"
    [email] = smtp_server.wait_for(1)
    assert kept["batch_id"] in str(email["Subject"])
    events = cli.events()
    started = {e["aggregate_id"] for e in of_type(events, "JobStarted")}
    assert started == {c}  # nothing cancelled or deleted ever ran
    assert cli.status(dropped["batch_id"])["reports"] == []
    assert reports_for(smtp_server.messages, dropped["batch_id"]) == []
