"""Trust, on the real servers (CONTRACT v1.1, identity and roles): forged and unauthorised messages change nothing.

Each principal is a RabbitMQ user of the test's own; the broker validates the
`user_id` property of what they publish. `batchq migrate` made the test's own
user (guest) the first operator.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import aio_pika
import aiormq
import pytest

from tests.e2e.api import start_api
from tests.e2e.broker import bind_queue, publish_requests, request
from tests.e2e.cli import Cli, job, new_id, submission
from tests.e2e.principals import Principals
from tests.e2e.processes import Processes

pytestmark = pytest.mark.timeout(240)


def as_principal(cli: Cli, url: str) -> Cli:
    return Cli({**cli.env, "BATCHQ_AMQP_URL": url}, cli.work_dir)


def refused(result_cli: Cli, *args: str) -> tuple[str, str]:
    """Run a CLI command that must be refused: (code, reason) from its stderr line."""
    result = result_cli.run(*args)
    assert result.code == 1, result
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("refused: "), result
    code, _, reason = line.removeprefix("refused: ").partition(": ")
    return code, reason


def failed_job(cli: Cli) -> tuple[str, str]:
    """A FAILED batch of tenant acme whose one job failed: (batch_id, job_uuid)."""
    job_uuid = new_id()
    batch = cli.submit(submission([job("fail", job_uuid, params={"code": "E1", "reason": "no"})]))["result"]
    cli.wait_for_batch(batch["batch_id"], "FAILED")
    return batch["batch_id"], job_uuid


def test_forged_and_unauthorised_commands_are_refused_with_their_code_and_change_nothing(
    system: Processes, cli: Cli, principals: Principals, amqp_url: str
) -> None:
    batch_id, job_uuid = failed_job(cli)
    before = cli.events(job_uuid=job_uuid)
    mallory, mallory_url = principals.add("mallory")  # a user of the vhost, with no role at all
    globex_admin, globex_url = principals.add("globex-admin")
    alice, alice_url = principals.add("alice")
    producer, producer_url = principals.add("producer")
    cli.ok("grant", globex_admin, "admin", "--tenant", "globex")
    cli.ok("grant", producer, "producer", "--tenant", "globex")
    cli.ok("grant", alice, "admin", "--tenant", "acme", "--reason", "on call")
    cli.ok("revoke", alice, "admin", "--tenant", "acme")

    # A user without the role, an admin of another tenant, a revoked grant: the job does not exist for them.
    missing = ("NOT_FOUND", f"job {job_uuid} not found")
    assert refused(as_principal(cli, mallory_url), "retry", job_uuid) == missing
    assert refused(as_principal(cli, globex_url), "retry", job_uuid) == missing
    assert refused(as_principal(cli, alice_url), "retry", job_uuid) == missing
    assert refused(as_principal(cli, globex_url), "delete", batch_id) == ("NOT_FOUND", f"batch {batch_id} not found")
    # An operator's command by a non-operator; a producer submitting for another tenant.
    assert refused(as_principal(cli, mallory_url), "pause") == (
        "FORBIDDEN",
        f"principal {mallory} may not pause_queue: it needs role operator for every tenant",
    )
    path = cli.work_dir / "acme.json"
    path.write_text(json.dumps(submission([job()], tenant="acme")))
    assert refused(as_principal(cli, producer_url), "submit", str(path)) == (
        "FORBIDDEN",
        f"principal {producer} may not submit: it needs role producer for tenant acme",
    )
    # No user_id property at all.
    retry = {"schema_version": 1, "command": "retry_job", "job_uuid": job_uuid}
    [reply] = publish_requests(
        amqp_url, [request(retry)], exchange="batchq.commands", routing_key="retry_job", user_id=None
    ).values()
    assert reply["error"]["code"] == "FORBIDDEN" and "without a user_id property" in reply["error"]["reason"]
    # A user_id that is not the connection's user: RabbitMQ itself refuses the publish.
    with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
        publish_requests(
            mallory_url, [request(retry)], exchange="batchq.commands", routing_key="retry_job", user_id="guest"
        )

    assert cli.events(job_uuid=job_uuid) == before  # 0 forged commands executed
    assert cli.status(batch_id)["status"] == "FAILED"
    refusals = [e for e in system.log_events("dispatcher") if e["event"] == "message_refused"]
    assert sorted(e["code"] for e in refusals) == ["FORBIDDEN"] * 3 + ["NOT_FOUND"] * 4
    # The producer may submit for its own tenant.
    path.write_text(json.dumps(submission([job()], tenant="globex")))
    assert as_principal(cli, producer_url).submit(json.loads(path.read_text()))["ok"] is True


def test_grants_are_listed_and_the_first_operator_is_the_migrating_user(system: Processes, cli: Cli) -> None:
    cli.ok("grant", "prod-1", "producer", "--tenant", "acme")

    grants = cli.ok("grants", "--json").json()

    assert {"principal": "guest", "role": "operator", "tenant": "*"} in grants
    assert {"principal": "prod-1", "role": "producer", "tenant": "acme"} in grants
    assert cli.ok("grants", "prod-1", "--json").json() == [
        {"principal": "prod-1", "role": "producer", "tenant": "acme"}
    ]


async def _publish_forged_completion(url: str, envelope: dict[str, object]) -> None:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        events = await channel.get_exchange("batchq.events", ensure=True)
        user = url.split("//", 1)[1].split(":", 1)[0]
        await events.publish(
            aio_pika.Message(json.dumps(envelope).encode(), content_type="application/json", user_id=user),
            f"acme.job.{envelope['type']}",
            timeout=10,
        )


def test_forged_events_from_a_non_relay_user_change_nothing(
    system: Processes, cli: Cli, principals: Principals
) -> None:
    cli.ok("pause")  # the job waits, so only a forged completion could move the batch
    job_uuid = new_id()
    batch_id = cli.submit(submission([job(job_uuid=job_uuid)]))["result"]["batch_id"]
    _, forger_url = principals.add("forger", write=r"^batchq\.events$", read="^$", configure="^$")
    forged = {
        "schema_version": 1, "position": 10_000, "event_id": str(uuid.uuid4()), "type": "JobCompleted",
        "aggregate_type": "job", "aggregate_id": job_uuid, "aggregate_version": 3,
        "occurred_at": datetime.now(UTC).isoformat(), "tenant": "acme", "user_id": "depositor-7",
        "trace_id": "forged", "batch_id": batch_id, "data": {"attempt": 1, "result": None},
    }  # fmt: skip

    # The dispatcher hears outcomes from the store's log alone: a completion on the bus is nothing to it.
    asyncio.run(_publish_forged_completion(forger_url, forged))
    # The workers hear cancellations on the bus, and only from the relay's user.
    asyncio.run(_publish_forged_completion(forger_url, {**forged, "type": "JobCancelled", "aggregate_version": 2}))
    system.wait_for_log("worker", "event_not_from_relay")

    assert cli.status(batch_id)["status"] == "PROCESSING"
    cli.ok("resume")
    done = cli.wait_for_batch(batch_id, "COMPLETED")
    assert done["jobs"][0]["attempts"] == 1 and done["jobs"][0]["status"] == "COMPLETED"


def test_a_tenant_auditor_is_confined_to_its_tenant_by_the_broker(migrated: Cli, principals: Principals) -> None:
    _, auditor_url = principals.add(
        "auditor-acme",
        configure=r"^batchq\.audit\.acme\..*$",
        write=r"^batchq\.audit\.acme\..*$",
        read=r"^(batchq\.events|batchq\.audit\.acme\..*)$",
        events_topic_read=r"^acme\.",
    )

    bind_queue(auditor_url, "batchq.audit.acme.mine", "batchq.events", ["acme.#"])
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        bind_queue(auditor_url, "batchq.audit.acme.theirs", "batchq.events", ["globex.#"])


def test_a_hundred_concurrent_submissions_against_a_quota_of_n_accept_exactly_n(
    system: Processes, cli: Cli, amqp_url: str
) -> None:
    limit = 7
    cli.ok("quota", "set", "--tenant", "acme", "--max-active-jobs", str(limit), "--reason", "trial")
    cli.ok("pause")  # nothing finishes, so every accepted job stays active
    submissions = [request(submission([job()])) for _ in range(100)]

    replies = publish_requests(amqp_url, submissions, producers=10, timeout=120).values()

    accepted = [r for r in replies if r["ok"]]
    refused = [r["error"] for r in replies if not r["ok"]]
    assert len(accepted) == limit
    assert {e["code"] for e in refused} == {"QUOTA_EXCEEDED"} and len(refused) == 100 - limit
    assert refused[0]["reason"] == f"tenant acme: max_active_jobs is {limit}; this submission would make it {limit + 1}"
    shown = cli.ok("quota", "show", "--tenant", "acme", "--json").json()
    assert shown == [
        {"scope": "tenant", "subject": "acme", "max_active_jobs": limit, "max_batches_per_day": None,
         "max_jobs_per_batch": None, "max_retention_days": None}
    ]  # fmt: skip
    submitted = [e for e in cli.events() if e["type"] == "BatchSubmitted"]
    assert len(submitted) == limit  # nothing of a refused submission is stored


def test_another_tenants_batches_jobs_and_events_are_404_through_the_api_the_dashboard_and_the_cli(
    system: Processes, cli: Cli, principals: Principals
) -> None:
    _, api_url = principals.add("batchq-api", tags="impersonator")  # publishes commands as each token's principal
    api = start_api(system, cli, BATCHQ_AMQP_URL=api_url)
    mine, _ = failed_job(cli)
    theirs_job = new_id()
    theirs = cli.submit(submission([job(job_uuid=theirs_job)], tenant="globex"))["result"]["batch_id"]
    cli.wait_for_batch(theirs, "COMPLETED")
    cli.ok("grant", "auditor-a", "auditor", "--tenant", "acme")
    token = cli.ok("token", "create", "auditor-a").stdout.splitlines()[-1].strip()
    missing_id = new_id()

    with api.client(token) as c:
        api.wait_until(lambda: c.get("/api/v1/batches").json()["batches"], "the read model has the batches")
        listed = {b["batch_id"] for b in c.get("/api/v1/batches").json()["batches"]}
        hidden, missing = c.get(f"/api/v1/batches/{theirs}"), c.get(f"/api/v1/batches/{missing_id}")
        responses = [
            c.get(f"/api/v1/jobs/{theirs_job}"),
            c.get(f"/api/v1/batches/{theirs}/events"),
            c.get(f"/api/v1/jobs/{theirs_job}/events"),
            c.get(f"/batches/{theirs}", cookies={"batchq_token": token}),
        ]
        replayed = {e["tenant"] for e in c.get("/api/v1/events").json()["events"]}
        forbidden = c.post(f"/api/v1/jobs/{cli.status(mine)['jobs'][0]['job_uuid']}/retry", json={})
        own_page = c.get(f"/batches/{mine}", cookies={"batchq_token": token}).text
    with api.client() as operator:
        operators_page = operator.get(f"/batches/{mine}", cookies={"batchq_token": api.token}).text

    assert listed == {mine}
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json() == {"error": {"code": "NOT_FOUND", "reason": f"batch {theirs} not found"}}
    assert missing.json() == {"error": {"code": "NOT_FOUND", "reason": f"batch {missing_id} not found"}}
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert replayed == {"acme"}
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "FORBIDDEN"
    # The dashboard shows an action only to whoever may take it.
    assert 'class="action retry"' in operators_page and 'class="action retry"' not in own_page
    remote = Cli({**cli.env, "BATCHQ_API_URL": api.base_url, "BATCHQ_API_TOKEN": token}, cli.work_dir)
    assert refused(remote, "status", theirs) == ("NOT_FOUND", f"batch {theirs} not found")
