"""Bad input published raw as a producer (or a broken peer) would: aio-pika, with reply_to.

Bad submissions on `batchq.manifests` are answered with their contract error code, dead-lettered
to `batchq.dispatcher.manifests.rejected` with the reason in `x-batchq-error`, and create
nothing; the same for bad commands, job messages and event envelopes on their queues. The
services carry on, and good batches (inline or from `manifest_url`) complete.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.broker import (
    MANIFESTS_REJECTED_QUEUE,
    Request,
    drain,
    publish_raw,
    publish_requests,
    request,
    wait_for_dead_letters,
)
from tests.e2e.cli import Cli, count_per_aggregate, job, job_states, new_id, submission, types_of
from tests.e2e.processes import Processes
from tests.threaded_servers import HttpServer, SmtpServer


@pytest.mark.batchq_env(BATCHQ_MAX_JOBS="50", BATCHQ_HTTP_TIMEOUT_SECONDS="1")
def test_bad_submissions_are_answered_with_their_code_and_dead_lettered(
    system: Processes, cli: Cli, amqp_url: str, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    taken_job = new_id()
    existing = submission([job(job_uuid=taken_job)])
    cli.submit(existing)
    cli.wait_for_batch(existing["batch_id"], "COMPLETED")
    http_server.add("/broken.json", b'{"jobs": [{"job_uuid": "not closed"', content_type="application/json")
    http_server.add("/slow.json", {"jobs": [job()]}, delay=3)
    cycle_a, cycle_b, cycle_c = new_id(), new_id(), new_id()
    stray_job = new_id()
    valid = submission([job()])
    cases: dict[str, tuple[Request, str]] = {
        "not JSON": (request(b"this is not JSON {"), "INVALID_MESSAGE"),
        "a JSON array": (request([1, 2, 3]), "INVALID_MESSAGE"),
        "unknown schema_version": (
            request({**valid, "schema_version": 2, "batch_id": new_id()}),
            "UNSUPPORTED_SCHEMA_VERSION",
        ),
        "invalid tenant": (request(submission([job()], tenant="Acme Corp!")), "INVALID_MESSAGE"),
        "invalid batch_id": (request({**submission([job()]), "batch_id": "not-a-uuid"}), "INVALID_MESSAGE"),
        "invalid job_uuid": (request(submission([{"job_uuid": "12345"}])), "INVALID_MESSAGE"),
        "both jobs and manifest_url": (
            request(submission([job()], manifest_url=http_server.url("/broken.json"))),
            "INVALID_MESSAGE",
        ),
        "manifest_url answering 404": (
            request(submission(manifest_url=http_server.url("/missing.json"))),
            "MANIFEST_UNAVAILABLE",
        ),
        "manifest_url slower than BATCHQ_HTTP_TIMEOUT_SECONDS": (
            request(submission(manifest_url=http_server.url("/slow.json"))),
            "MANIFEST_UNAVAILABLE",
        ),
        "more jobs than BATCHQ_MAX_JOBS": (request(submission([job() for _ in range(51)])), "INVALID_MESSAGE"),
        "broken manifest document": (
            request(submission(manifest_url=http_server.url("/broken.json"))),
            "INVALID_MESSAGE",
        ),
        "job_uuid of another batch": (
            request(submission([job(job_uuid=stray_job), job(job_uuid=taken_job)])),
            "DUPLICATE_JOB",
        ),
        "known batch_id, other content": (
            request(submission([job(), job()], batch_id=existing["batch_id"])),
            "DUPLICATE_BATCH",
        ),
        "dependency cycle": (
            request(
                submission(
                    [
                        job(job_uuid=cycle_a, depends_on=[cycle_c]),
                        job(job_uuid=cycle_b, depends_on=[cycle_a]),
                        job(job_uuid=cycle_c, depends_on=[cycle_b]),
                    ]
                )
            ),
            "INVALID_MESSAGE",
        ),
        "dependency outside the batch": (request(submission([job(depends_on=[new_id()])])), "INVALID_MESSAGE"),
    }

    replies = publish_requests(amqp_url, [r for r, _ in cases.values()])

    answered = {name: replies[r.correlation_id] for name, (r, _) in cases.items()}
    wrong = {
        name: reply
        for name, reply in answered.items()
        if reply.get("ok") is not False or reply.get("error", {}).get("code") != cases[name][1]
    }
    assert wrong == {}, json.dumps(wrong, indent=1)
    assert all(reply["error"]["reason"] for reply in answered.values())
    assert taken_job in answered["job_uuid of another batch"]["error"]["reason"]
    # The refusal names the manifest by its origin; its path may be personal data, and refusals are logged.
    broken = answered["broken manifest document"]["error"]["reason"]
    assert http_server.url("/").rstrip("/") in broken and "/broken.json" not in broken

    dead = wait_for_dead_letters(amqp_url, MANIFESTS_REJECTED_QUEUE, len(cases))
    by_correlation = {d.correlation_id: d for d in dead}
    assert len(dead) == len(cases), [d.error for d in dead]
    for name, (sent, code) in cases.items():
        letter = by_correlation.get(sent.correlation_id)
        assert letter is not None, f"{name}: not dead-lettered"
        assert letter.body == sent.body, name
        assert letter.error.startswith(code), f"{name}: x-batchq-error {letter.error!r}"

    # Nothing of a refused submission exists, and nothing existing was touched.
    for refused in ("job_uuid of another batch", "dependency cycle"):
        refused_batch = json.loads(cases[refused][0].body)["batch_id"]
        missing = cli.run("status", refused_batch, "--json")
        assert missing.code == 1 and "NOT_FOUND" in missing.stderr, str(missing)
    assert cli.events(job_uuid=stray_job) == []
    assert cli.events(job_uuid=cycle_a) == []
    all_events = cli.events()
    assert count_per_aggregate(all_events, "JobSubmitted")[taken_job] == 1
    assert count_per_aggregate(all_events, "BatchSubmitted")[existing["batch_id"]] == 1
    assert job_states(cli.status(existing["batch_id"])) == {taken_job: "COMPLETED"}

    # The dispatcher carries on: a good batch after all that still completes.
    good = submission([job(), job(), job()])
    assert cli.submit(good)["result"]["duplicate"] is False
    assert cli.wait_for_batch(good["batch_id"], "COMPLETED")["status"] == "COMPLETED"
    assert len(smtp_server.wait_for(2)) == 2
    assert system.alive("dispatcher")


def test_the_same_batch_submitted_twice_is_a_duplicate_no_op(
    system: Processes, cli: Cli, amqp_url: str, smtp_server: SmtpServer
) -> None:
    doc = submission([job(), job()])
    first = request(doc)

    replies = publish_requests(amqp_url, [first])
    again = request({**doc, "trace_id": "a-different-trace"})  # trace_id is not content
    replies |= publish_requests(amqp_url, [again])

    assert replies[first.correlation_id]["ok"] is True
    assert replies[first.correlation_id]["result"]["duplicate"] is False
    assert replies[again.correlation_id]["ok"] is True, replies[again.correlation_id]
    assert replies[again.correlation_id]["result"]["duplicate"] is True
    assert replies[again.correlation_id]["result"]["batch_id"] == doc["batch_id"]
    cli.wait_for_batch(doc["batch_id"], "COMPLETED")
    events = cli.events(batch_id=doc["batch_id"])
    assert types_of(events).count("BatchSubmitted") == 1
    assert types_of(events).count("JobSubmitted") == 2
    assert types_of(events).count("JobCompleted") == 2
    assert drain(amqp_url, MANIFESTS_REJECTED_QUEUE) == []
    assert len(smtp_server.wait_for(1)) == 1


def test_a_manifest_served_from_manifest_url_runs_all_its_jobs(
    system: Processes, cli: Cli, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    jobs = [job() for _ in range(20)]
    url = http_server.add("/manifests/twenty.json", {"jobs": jobs})
    doc = submission(manifest_url=url)

    reply = cli.submit(doc)

    assert reply["result"]["jobs"] == 20
    status = cli.wait_for_batch(doc["batch_id"], "COMPLETED")
    assert [j["job_uuid"] for j in status["jobs"]] == [j["job_uuid"] for j in jobs]
    assert set(job_states(status).values()) == {"COMPLETED"}
    assert "/manifests/twenty.json" in http_server.requests
    [email] = smtp_server.wait_for(1)
    assert doc["batch_id"] in str(email["Subject"])


def test_bad_commands_job_messages_and_events_are_refused_and_dead_lettered(
    system: Processes, cli: Cli, amqp_url: str, smtp_server: SmtpServer
) -> None:
    unknown = new_id()
    commands = {  # routing key, body, expected code
        "command not JSON": ("retry_job", b"retry everything!", "INVALID_MESSAGE"),
        "unknown command": ("retry_job", {"schema_version": 1, "command": "frobnicate"}, "INVALID_MESSAGE"),
        "invalid job_uuid": (
            "retry_job",
            {"schema_version": 1, "command": "retry_job", "job_uuid": "x"},
            "INVALID_MESSAGE",
        ),
        "schema_version 7": (
            "cancel_job",
            {"schema_version": 7, "command": "cancel_job", "job_uuid": unknown},
            "UNSUPPORTED_SCHEMA_VERSION",
        ),
        "no schema_version": (
            "delete_batch",
            {"command": "delete_batch", "batch_id": unknown},
            "UNSUPPORTED_SCHEMA_VERSION",
        ),
        "unknown job": ("cancel_job", {"schema_version": 1, "command": "cancel_job", "job_uuid": unknown}, "NOT_FOUND"),
    }
    sent = {name: request(body) for name, (_, body, _) in commands.items()}
    replies: dict[str, dict[str, object]] = {}
    for name, (routing_key, _, _) in commands.items():
        replies |= publish_requests(amqp_url, [sent[name]], exchange="batchq.commands", routing_key=routing_key)
    poison_jobs = [request(b"\x00\xff not json"), request({"schema_version": 1, "batch_id": new_id()})]
    publish_raw(amqp_url, "batchq.jobs", [("default", r) for r in poison_jobs])
    # Not an event: it reaches only the workers' control queues (the dispatcher follows the store, not the bus).
    poison_event = request({"not": "an event envelope"})
    publish_raw(amqp_url, "batchq.events", [("acme.job.JobCancelled", poison_event)])

    wrong = {
        name: replies[r.correlation_id]
        for name, r in sent.items()
        if replies[r.correlation_id].get("ok") is not False
        or replies[r.correlation_id]["error"]["code"] != commands[name][2]  # type: ignore[index]
    }
    assert wrong == {}, json.dumps(wrong, indent=1)
    dead_commands = {
        d.correlation_id: d
        for d in wait_for_dead_letters(amqp_url, "batchq.dispatcher.commands.rejected", len(commands))
    }
    for name, r in sent.items():
        assert dead_commands[r.correlation_id].error.startswith(commands[name][2]), name
    dead_jobs = wait_for_dead_letters(amqp_url, "batchq.jobs.default.rejected", len(poison_jobs))
    assert sorted(d.body for d in dead_jobs) == sorted(r.body for r in poison_jobs)
    assert all(d.error.startswith("INVALID_MESSAGE") for d in dead_jobs), [d.error for d in dead_jobs]
    system.wait_for_log("worker", "message_rejected")

    good = submission([job(), job()])
    cli.submit(good)
    cli.wait_for_batch(good["batch_id"], "COMPLETED")
    assert cli.run("pause").code == 0 and cli.run("resume").code == 0
    assert all(system.alive(name) for name in ("dispatcher", "worker", "reporter"))


def test_a_job_message_of_an_unknown_schema_version_is_dead_lettered(
    system: Processes, cli: Cli, amqp_url: str
) -> None:
    future = request({"schema_version": 2, "job_uuid": new_id(), "batch_id": new_id(), "priority": "high"})

    publish_raw(amqp_url, "batchq.jobs", [("default", future)])

    [dead] = wait_for_dead_letters(amqp_url, "batchq.jobs.default.rejected", 1, timeout=5)
    assert dead.body == future.body
    assert dead.error.startswith("UNSUPPORTED_SCHEMA_VERSION")


def test_messages_under_a_routing_key_nobody_binds_are_answered_and_dead_lettered(
    system: Processes, amqp_url: str
) -> None:
    """Before: the broker dropped them (or only returned them); now the alternate exchanges bring them in."""
    pause = {"schema_version": 1, "command": "pause_queue", "reason": "x"}
    cases = [
        ("batchq.commands", "frobnicate", request(pause), "batchq.dispatcher.commands.rejected"),
        ("batchq.commands", "cancel_job", request(pause), "batchq.dispatcher.commands.rejected"),
        ("batchq.manifests", "sumbit", request(submission([job()])), MANIFESTS_REJECTED_QUEUE),
    ]
    for exchange, key, sent, _ in cases:
        [reply] = publish_requests(amqp_url, [sent], exchange=exchange, routing_key=key, timeout=15).values()
        assert reply["ok"] is False and reply["error"]["code"] == "INVALID_MESSAGE", reply
        assert f"routing key {key!r}" in reply["error"]["reason"]
    dead = wait_for_dead_letters(amqp_url, "batchq.dispatcher.commands.rejected", 2) + wait_for_dead_letters(
        amqp_url, MANIFESTS_REJECTED_QUEUE, 1
    )
    assert sorted(d.correlation_id for d in dead) == sorted(sent.correlation_id for _, _, sent, _ in cases)
    assert all(d.error.startswith("INVALID_MESSAGE") for d in dead)
