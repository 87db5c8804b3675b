"""`batchq run api`: /health, /metrics and /api/v1 on the real servers, against what the CLI says."""

from __future__ import annotations

import socket
import subprocess
from collections import Counter
from urllib.parse import quote

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.adapters.migrations import MIGRATIONS
from tests.e2e.api import ApiClient, free_port, start_api
from tests.e2e.cli import Cli, job, submission
from tests.e2e.outages import vhost_of
from tests.e2e.processes import Processes
from tests.e2e.test_read_model import mixed_batch
from tests.rabbitmq_admin import ManagementApi
from tests.servers import PostgresServer, RabbitServer
from tests.threaded_servers import SmtpServer

pytestmark = pytest.mark.batchq_env(BATCHQ_ALERT_INTERVAL_SECONDS="0.5")


@pytest.fixture
def api(system: Processes, cli: Cli) -> ApiClient:
    return start_api(system, cli)


def health(api: ApiClient) -> httpx.Response:
    return httpx.get(f"{api.base_url}/health", timeout=30)


def set_connections(postgres_server: PostgresServer, database_url: str, allowed: bool) -> None:
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(postgres_server.admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')  # type: ignore[arg-type]
        if not allowed:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def test_health_is_503_naming_the_database_while_it_refuses_connections_and_200_again_after(
    api: ApiClient, postgres_server: PostgresServer, database_url: str
) -> None:
    first = health(api)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "ok"
    assert set(first.json()["checks"]) >= {"database", "broker", "relay_lag", "projection_lag", "schema_version"}
    versions = first.json()["checks"]["schema_version"]
    assert versions["store"] == versions["code"] == MIGRATIONS[-1].version  # the store's own, from its migrations

    set_connections(postgres_server, database_url, allowed=False)
    try:
        down = api.wait_until(lambda: (r := health(api)).status_code == 503 and r, "503 while the database is away")
        assert "database" in down.json()["failing"]
        assert down.json()["checks"]["database"]["ok"] is False
        assert down.json()["checks"]["broker"]["ok"] is True
    finally:
        set_connections(postgres_server, database_url, allowed=True)
    back = api.wait_until(lambda: (r := health(api)).status_code == 200 and r, "200 once the database is back")
    assert back.json()["status"] == "ok"


def set_vhost_access(rabbitmq_server: RabbitServer, amqp_url: str, allowed: bool) -> None:
    """Grant or take away the test user's permissions on its vhost: new connections are refused meanwhile."""
    admin, vhost, user = rabbitmq_server.admin, vhost_of(amqp_url), rabbitmq_server.user
    if isinstance(admin, ManagementApi):
        path = f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}"
        if allowed:
            admin.client.put(path, json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        else:
            admin.client.delete(path).raise_for_status()
        return
    action = (
        ["set_permissions", "-p", vhost, user, ".*", ".*", ".*"]
        if allowed
        else ["clear_permissions", "-p", vhost, user]
    )
    subprocess.run([admin.description, "-q", *action], check=True, capture_output=True, timeout=60)


def test_health_is_503_naming_the_broker_while_it_refuses_connections_and_200_again_after(
    api: ApiClient, rabbitmq_server: RabbitServer, amqp_url: str
) -> None:
    assert health(api).status_code == 200
    set_vhost_access(rabbitmq_server, amqp_url, allowed=False)
    try:
        down = api.wait_until(lambda: (r := health(api)).status_code == 503 and r, "503 while the broker refuses")
        assert down.json()["failing"] == ["broker"], down.text
    finally:
        set_vhost_access(rabbitmq_server, amqp_url, allowed=True)
    api.wait_until(lambda: health(api).status_code == 200, "200 once the broker takes connections again")


def test_metrics_parse_and_their_job_gauges_equal_the_states_in_the_store_after_a_mixed_batch(
    api: ApiClient, cli: Cli, smtp_server: SmtpServer
) -> None:
    doc = mixed_batch(cli, smtp_server)
    states = Counter(j["status"] for j in cli.status(str(doc["batch_id"]))["jobs"])

    def gauges() -> dict[str, float]:
        return {s.labels["state"]: s.value for s in api.metrics()["batchq_jobs"] if s.labels["tenant"] == "acme"}

    api.wait_until(lambda: gauges() == states, f"batchq_jobs equal to {dict(states)}")
    families = api.metrics()
    assert {s.labels["state"]: s.value for s in families["batchq_batches"]} == {"FAILED": 1}
    assert {s.labels["code"]: s.value for s in families["batchq_job_failures"]}["BAD"] == 4
    count = [s.value for s in families["batchq_job_duration_seconds"] if s.name.endswith("_count")]
    assert count == [sum(states[s] for s in ("COMPLETED", "ABANDONED"))]  # jobs that ran to an end
    for name in ("batchq_queue_depth", "batchq_oldest_pending_job_age_seconds", "batchq_stuck_jobs",
                 "batchq_relay_lag_events", "batchq_projection_lag_events", "batchq_alert_firing"):  # fmt: skip
        assert name in families, name


def test_the_api_batch_and_job_documents_equal_what_the_cli_shows(
    api: ApiClient, cli: Cli, smtp_server: SmtpServer
) -> None:
    doc = mixed_batch(cli, smtp_server)
    batch_id = str(doc["batch_id"])
    status = cli.status(batch_id)
    assert api.get(f"/api/v1/batches/{batch_id}").json() == status
    events = cli.events(batch_id=batch_id)
    assert api.get(f"/api/v1/batches/{batch_id}/events").json()["events"] == events
    early = events[5]["occurred_at"]
    assert api.get(f"/api/v1/batches/{batch_id}", at=early).json() == cli.status(batch_id, at=early)

    failed = next(j for j in status["jobs"] if j["status"] == "ABANDONED")
    job = api.get(f"/api/v1/jobs/{failed['job_uuid']}").json()
    assert {k: job[k] for k in failed} == failed
    assert [a["error"]["code"] for a in job["attempt_history"]] == ["BAD"] * 4
    assert job["errors"][0]["traceback"] and job["errors"][0]["stage"] == "execution"

    listed = api.wait_until(lambda: api.get("/api/v1/batches", tenant="acme").json()["batches"], "the batch listed")
    assert [(b["batch_id"], b["status"], b["job_count"]) for b in listed] == [(batch_id, "FAILED", 5)]
    assert api.get("/api/v1/batches", tenant="globex").json()["batches"] == []
    page = api.get("/api/v1/events", since=3, limit=4).json()
    assert [e["position"] for e in page["events"]] == [4, 5, 6, 7] and page["next_since"] == 7
    assert page["events"] == cli.events(since=3)[:4]


def test_requests_without_a_valid_token_are_401_and_unknown_ids_404_in_the_error_shape(
    api: ApiClient, cli: Cli
) -> None:
    missing = httpx.get(f"{api.base_url}/api/v1/batches", timeout=30)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "UNAUTHORIZED"
    with api.client("bq_not-a-token") as c:
        assert c.get("/api/v1/batches").status_code == 401
    unknown = api.get("/api/v1/batches/8f7c5a8e-1111-4222-8333-944445555666")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "NOT_FOUND"
    assert "8f7c5a8e-1111-4222-8333-944445555666" in unknown.json()["error"]["reason"]
    assert httpx.get(f"{api.base_url}/api/v1/openapi.json").json()["paths"]["/api/v1/jobs/{job_uuid}/retry"]

    expired = cli.ok("token", "create", "expired", "--ttl", "0").stdout.splitlines()[-1]
    with api.client(expired) as c:
        assert c.get("/api/v1/batches").json()["error"]["reason"] == "the token is unknown, expired or revoked"
    revoked = cli.ok("token", "create", "short-lived").stdout.splitlines()
    token_id = revoked[0].split()[1]
    token = cli.ok("token", "create", "other").stdout.splitlines()[-1]
    with api.client(revoked[-1]) as c:
        assert c.get("/api/v1/batches").status_code == 200
    cli.ok("token", "revoke", token_id)
    with api.client(revoked[-1]) as c:
        assert c.get("/api/v1/batches").status_code == 401
    assert cli.run("token", "revoke", token_id).code == 1
    with api.client(token) as c:
        assert c.get("/api/v1/batches").status_code == 200


def test_admin_actions_through_the_api_answer_as_the_cli_does(api: ApiClient, cli: Cli) -> None:
    paused = api.post("/api/v1/queue/pause", {"reason": "maintenance"})
    assert paused.status_code == 200 and paused.json()["ok"] is True, paused.text
    by_cli = cli.run("pause", "--reason", "maintenance")
    by_api = api.post("/api/v1/queue/pause", {"reason": "maintenance"})
    assert by_cli.code == 1
    assert by_api.status_code == 409
    assert by_api.json() == by_cli.json() and by_api.json()["error"]["code"] == "ILLEGAL_TRANSITION"

    cli.ok("resume")
    doc = submission([job()])
    cli.submit(doc)
    done = cli.wait_for_batch(doc["batch_id"], "COMPLETED")
    job_uuid = done["jobs"][0]["job_uuid"]
    by_cli = cli.run("cancel", job_uuid)
    by_api = api.post(f"/api/v1/jobs/{job_uuid}/cancel")
    assert (by_api.status_code, by_api.json()) == (409, by_cli.json())
    retried = api.post(f"/api/v1/jobs/{job_uuid}/retry", {"override": True, "reason": "again"})
    assert retried.json() == {"schema_version": 1, "ok": True, "result": {"job_uuid": job_uuid, "status": "PENDING"}}
    unknown = api.post("/api/v1/batches/8f7c5a8e-1111-4222-8333-944445555666/delete")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "NOT_FOUND")


def test_a_service_serves_its_own_health_and_metrics_on_batchq_metrics_addr(
    migrated: Cli, processes: Processes
) -> None:
    port = free_port()
    processes.start("dispatcher", env={"BATCHQ_METRICS_ADDR": f"127.0.0.1:{port}"})
    up = httpx.get(f"http://127.0.0.1:{port}/health", timeout=30)
    assert up.status_code == 200 and up.json()["checks"]["database"]["ok"] is True, up.text
    assert "batchq.dispatcher.commands" in up.json()["checks"]["consumers"]["queues"]
    refused = migrated.run("cancel", "8f7c5a8e-1111-4222-8333-944445555666")
    assert refused.code == 1
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    samples = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["batchq_messages_refused_total"].labels == {"code": "NOT_FOUND"}
    assert samples["batchq_messages_refused_total"].value == 1


@pytest.mark.batchq_env(BATCHQ_DATABASE_SCHEMA="batchq_ops")
def test_the_api_and_its_read_model_live_in_batchq_database_schema(api: ApiClient, cli: Cli, database_url: str) -> None:
    doc = submission([job(), job("fail", max_attempts=1)], tenant="globex")
    cli.submit(doc)
    cli.wait_for_batch(doc["batch_id"], "FAILED")
    assert health(api).status_code == 200, health(api).text
    listed = api.wait_until(lambda: api.get("/api/v1/batches").json()["batches"], "the batch listed")
    assert [(b["batch_id"], b["settled"]) for b in listed] == [(doc["batch_id"], 2)]
    jobs = {s.labels["state"]: s.value for s in api.metrics()["batchq_jobs"]}
    assert jobs == {"COMPLETED": 1, "FAILED": 1}
    with psycopg.connect(database_url) as conn:
        public = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert public == (0,)


def test_status_and_events_read_through_the_api_when_batchq_api_url_is_set(
    api: ApiClient, cli: Cli, smtp_server: SmtpServer
) -> None:
    doc = mixed_batch(cli, smtp_server)
    batch_id = str(doc["batch_id"])
    remote = Cli({**cli.env, "BATCHQ_API_URL": api.base_url, "BATCHQ_API_TOKEN": api.token}, cli.work_dir)
    remote.env["BATCHQ_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"  # it must not need the database
    assert remote.status(batch_id) == cli.status(batch_id)
    early = cli.events(batch_id=batch_id)[4]["occurred_at"]
    assert remote.status(batch_id, at=early) == cli.status(batch_id, at=early)
    assert remote.ok("status", batch_id).stdout == cli.ok("status", batch_id).stdout
    assert remote.events(batch_id=batch_id, since=3) == cli.events(batch_id=batch_id, since=3)
    assert remote.ok("events", "--json").stdout == cli.ok("events", "--json").stdout
    job_uuid = cli.status(batch_id)["jobs"][1]["job_uuid"]
    assert remote.events(job_uuid=job_uuid) == cli.events(job_uuid=job_uuid)

    unknown = remote.run("status", "8f7c5a8e-1111-4222-8333-944445555666")
    assert unknown.code == 1 and unknown.stderr.startswith("refused: NOT_FOUND: batch 8f7c5a8e"), str(unknown)
    remote.env["BATCHQ_API_TOKEN"] = "bq_wrong"
    refused = remote.run("events")
    assert refused.code == 1 and refused.stderr.strip().startswith("refused: UNAUTHORIZED:"), str(refused)


def test_a_busy_http_address_is_one_line_naming_its_variable(migrated: Cli) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        api = Cli({**migrated.env, "BATCHQ_HTTP_ADDR": addr}, migrated.work_dir).run("run", "api", timeout=60)
        metrics = Cli({**migrated.env, "BATCHQ_METRICS_ADDR": addr}, migrated.work_dir).run("run", "reporter")
    for result, variable in ((api, "BATCHQ_HTTP_ADDR"), (metrics, "BATCHQ_METRICS_ADDR")):
        assert result.code == 1, str(result)
        [line] = result.stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith(f"batchq: cannot serve HTTP on {addr} ({variable}): Address already in use"), line
