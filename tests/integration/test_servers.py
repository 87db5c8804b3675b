"""The test fixtures themselves: each test gets servers of its own, and they clean up."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
from email.message import EmailMessage

import aio_pika
import httpx
import psycopg
import pytest

from tests import servers
from tests.servers import PostgresServer, RabbitServer
from tests.threaded_servers import HttpServer, SmtpServer, free_port


def test_database_url_is_a_fresh_database_of_its_own(database_url: str, postgres_server: PostgresServer) -> None:
    with postgres_server.isolated_database() as other_url:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE marker (x int)")
            name = conn.execute("SELECT current_database()").fetchone()
        with psycopg.connect(other_url, autocommit=True) as other:
            other_name = other.execute("SELECT current_database()").fetchone()
            tables = other.execute("SELECT to_regclass('marker')").fetchone()
    assert name is not None and other_name is not None
    assert name[0].startswith("batchq_test_") and other_name[0].startswith("batchq_test_")
    assert name != other_name
    assert tables == (None,)


def test_isolated_database_is_dropped_even_with_a_session_open(
    postgres_server: PostgresServer,
) -> None:
    with postgres_server.isolated_database() as url:
        lingering = psycopg.connect(url)  # a test that forgets to close must not block the drop
        name = url.rsplit("/", 1)[1]
        assert postgres_server.database_exists(name)
    assert not postgres_server.database_exists(name)
    lingering.close()


def test_amqp_url_is_a_vhost_of_its_own_and_usable(amqp_url: str, rabbitmq_server: RabbitServer) -> None:
    vhost = amqp_url.rsplit("/", 1)[1]
    assert vhost.startswith("batchq-test-")
    assert rabbitmq_server.vhost_exists(vhost)
    assert asyncio.run(_round_trip(amqp_url, b"hello")) == b"hello"


def test_isolated_vhost_is_deleted_afterwards(rabbitmq_server: RabbitServer) -> None:
    with rabbitmq_server.isolated_vhost() as url:
        vhost = url.rsplit("/", 1)[1]
        assert rabbitmq_server.vhost_exists(vhost)
    assert not rabbitmq_server.vhost_exists(vhost)


async def _round_trip(url: str, body: bytes) -> bytes:
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue("batchq.test.roundtrip", durable=True)
        await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
        message = await queue.get(timeout=10)
        await message.ack()
        return message.body


def test_smtp_server_receives_what_smtplib_sends(smtp_server: SmtpServer) -> None:
    message = EmailMessage()
    message["From"] = "batchq@localhost"
    message["To"] = "depositor@example.org"
    message["Subject"] = "Batch 6f1e0c1a COMPLETED"
    message.set_content("every job completed\n")
    port = int(smtp_server.url.rsplit(":", 1)[1])
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)

    [received] = smtp_server.wait_for(1, timeout=5)
    assert received["Subject"] == "Batch 6f1e0c1a COMPLETED"
    assert received.get_content() == "every job completed\n"
    assert smtp_server.envelopes == [("batchq@localhost", ["depositor@example.org"])]


def test_smtp_wait_for_says_what_arrived_when_it_times_out(smtp_server: SmtpServer) -> None:
    with pytest.raises(AssertionError, match="received 0"):
        smtp_server.wait_for(1, timeout=0.2)


def test_http_server_serves_what_was_added_and_404s_the_rest(http_server: HttpServer) -> None:
    url = http_server.add("/manifest.json", {"jobs": [{"job_uuid": "0b6c"}]})
    http_server.add("/broken", b"oops", status=503)

    manifest = httpx.get(url, timeout=5)
    assert manifest.status_code == 200
    assert manifest.headers["content-type"] == "application/json"
    assert manifest.json() == {"jobs": [{"job_uuid": "0b6c"}]}
    assert httpx.get(http_server.url("/broken"), timeout=5).status_code == 503
    assert httpx.get(http_server.url("/missing"), timeout=5).status_code == 404
    assert http_server.requests == ["/manifest.json", "/broken", "/missing"]


def test_http_server_delays_when_asked(http_server: HttpServer) -> None:
    http_server.add("/slow", b"late", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(http_server.url("/slow"), timeout=0.1)


def test_service_env_points_at_this_tests_servers(
    service_env: dict[str, str], database_url: str, amqp_url: str, smtp_server: SmtpServer
) -> None:
    assert service_env["BATCHQ_DATABASE_URL"] == database_url
    assert service_env["BATCHQ_AMQP_URL"] == amqp_url
    assert service_env["BATCHQ_SMTP_URL"] == smtp_server.url
    assert service_env["BATCHQ_MAIL_FROM"]
    assert "PATH" in service_env


def test_discovery_names_the_variable_when_no_postgresql_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(servers.DATABASE_URL_VARIABLE, raising=False)
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    monkeypatch.setattr(servers, "LOCAL_DATABASE_URL", closed)
    monkeypatch.setattr(servers, "docker_problem", lambda: "no Docker engine answers")
    with pytest.raises(servers.ServerUnavailableError) as failure, contextlib.ExitStack() as stack:
        servers.discover_postgres(stack)
    assert "BATCHQ_TEST_DATABASE_URL" in str(failure.value)
    assert "pg_ctlcluster" in str(failure.value)
    assert "\n" not in str(failure.value)


def test_discovery_names_the_variable_when_no_rabbitmq_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(servers.AMQP_URL_VARIABLE, raising=False)
    monkeypatch.setattr(servers, "LOCAL_AMQP_URL", f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    monkeypatch.setattr(servers, "docker_problem", lambda: "no Docker engine answers")
    with pytest.raises(servers.ServerUnavailableError) as failure, contextlib.ExitStack() as stack:
        servers.discover_rabbitmq(stack)
    assert "BATCHQ_TEST_AMQP_URL" in str(failure.value)
    assert "rabbitmq-server -detached" in str(failure.value)


def test_a_configured_url_that_does_not_answer_is_an_error_not_a_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/postgres"
    monkeypatch.setenv(servers.DATABASE_URL_VARIABLE, url)
    with pytest.raises(servers.ServerUnavailableError) as failure, contextlib.ExitStack() as stack:
        servers.discover_postgres(stack)
    assert str(failure.value).startswith("BATCHQ_TEST_DATABASE_URL=postgresql://postgres:***@")


def test_without_management_api_or_rabbitmqctl_discovery_names_what_to_enable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    no_api = f"http://guest:guest@127.0.0.1:{free_port()}"
    with pytest.raises(servers.ServerUnavailableError) as failure:
        servers.vhost_admin(no_api, servers.LOCAL_AMQP_URL)
    assert "rabbitmq-plugins enable rabbitmq_management" in str(failure.value)
    assert "rabbitmqctl" in str(failure.value)
    assert "\n" not in str(failure.value)
