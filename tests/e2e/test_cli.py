"""The `batchq` command's own contract: exit status 0 / 1 (refused, reason on stderr) / 2 (bad
usage), admin refusals and overrides, and one clear line, never a traceback, when a server is out
of reach, nobody answers, a file is missing, the database is not migrated or the reader of the
output goes away.
"""

from __future__ import annotations

import pytest

from tests.e2e.cli import Cli, job, job_doc, new_id, of_type, submission, types_of
from tests.e2e.processes import Processes
from tests.integration.harness import tables_by_schema
from tests.threaded_servers import SmtpServer, free_port


def assert_one_clear_line(stderr: str, *names: str) -> None:
    """One message line (an indented continuation, such as libpq's hint, belongs to it)."""
    lines = [line for line in stderr.splitlines() if line.strip() and not line[0].isspace()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    for name in names:
        assert name in lines[0], stderr


def test_refused_commands_exit_1_with_the_reason_and_override_reruns_a_completed_job(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    done = new_id()
    doc = submission([job(job_uuid=done)])
    cli.submit(doc)
    cli.wait_for_batch(doc["batch_id"], "COMPLETED")

    refused = cli.run("retry", done)
    cancel_refused = cli.run("cancel", done)
    update_refused = cli.run("update-reporting", doc["batch_id"])
    unknown_job = cli.run("retry", new_id())
    unknown_batch = cli.run("status", new_id(), "--json")
    bad_usage = cli.run("status", "not-a-uuid")

    assert refused.code == 1 and "ILLEGAL_TRANSITION" in refused.stderr and "override" in refused.stderr
    assert refused.json()["ok"] is False and refused.json()["error"]["code"] == "ILLEGAL_TRANSITION"
    assert cancel_refused.code == 1 and "ILLEGAL_TRANSITION" in cancel_refused.stderr
    assert update_refused.code == 1 and "ILLEGAL_TRANSITION" in update_refused.stderr
    assert unknown_job.code == 1 and "NOT_FOUND" in unknown_job.stderr
    assert unknown_batch.code == 1 and "NOT_FOUND" in unknown_batch.stderr
    assert bad_usage.code == 2, str(bad_usage)
    assert types_of(cli.events(job_uuid=done)) == ["JobSubmitted", "JobStarted", "JobCompleted"]

    overridden = cli.run("retry", done, "--override", "--reason", "re-deliver to the retailer")

    assert overridden.code == 0, str(overridden)
    status = cli.wait_for_status(
        doc["batch_id"],
        lambda d: job_doc(d, done)["attempts"] == 2 and job_doc(d, done)["status"] == "COMPLETED",
        what="the override re-run",
    )
    assert status["status"] == "COMPLETED"
    events = cli.events(job_uuid=done)
    [retried] = of_type(events, "JobRetried")
    assert retried["data"]["override"] is True and retried["data"]["reason"] == "re-deliver to the retailer"
    assert types_of(events)[-3:] == ["JobRetried", "JobStarted", "JobCompleted"]


def unreachable_port() -> int:
    return free_port()  # nothing listens there


def test_an_unreachable_database_is_named_in_one_line(migrated: Cli, cli: Cli) -> None:
    nowhere = unreachable_port()
    no_database = Cli(
        {**cli.env, "BATCHQ_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{nowhere}/batchq"}, cli.work_dir
    )

    status = no_database.run("status", new_id())
    worker = no_database.run("run", "worker", timeout=60)

    for result in (status, worker):
        assert result.code == 1, str(result)
        assert_one_clear_line(result.stderr, "BATCHQ_DATABASE_URL", f"127.0.0.1:{nowhere}")


def test_an_unreachable_broker_is_named_in_one_line(migrated: Cli, cli: Cli) -> None:
    nowhere = unreachable_port()
    no_broker = Cli({**cli.env, "BATCHQ_AMQP_URL": f"amqp://guest:secret@127.0.0.1:{nowhere}/%2F"}, cli.work_dir)

    pause = no_broker.run("pause", timeout=60)
    dispatcher = no_broker.run("run", "dispatcher", timeout=60)

    for result in (pause, dispatcher):
        assert result.code == 1, str(result)
        assert "secret" not in result.stderr  # the password is not printed
        assert_one_clear_line(result.stderr, "BATCHQ_AMQP_URL", f"127.0.0.1:{nowhere}")


def test_an_admin_command_nobody_answers_fails_in_one_line(migrated: Cli, cli: Cli) -> None:
    result = cli.run("pause", timeout=90)  # no dispatcher runs

    assert result.code == 1, str(result)
    assert_one_clear_line(result.stderr)


@pytest.mark.batchq_env(BATCHQ_DATABASE_SCHEMA="batchq_tenant")
def test_migrate_creates_the_configured_schema_and_reads_look_in_it(cli: Cli, database_url: str) -> None:
    migrated = cli.run("migrate")
    unknown_batch = cli.run("status", new_id())
    events = cli.run("events", "--json")

    assert migrated.code == 0, str(migrated)
    assert unknown_batch.code == 1 and "NOT_FOUND" in unknown_batch.stderr, str(unknown_batch)
    assert events.code == 0, str(events)
    # the only history of a new installation: its first operator
    assert [e["type"] for e in events.json_lines()] == ["AccessCreated", "PrincipalGranted"], str(events)
    tables = tables_by_schema(database_url)
    read_model = {
        "batchq_rm_position",
        "batchq_rm_batches",
        "batchq_rm_jobs",
        "batchq_rm_job_counts",
        "batchq_rm_events",
    }
    store = {"batchq_events", "batchq_migrations", "batchq_relay", "batchq_workers", "batchq_api_tokens"}
    store |= {"batchq_personal_keys", "batchq_secrets"}  # personal data's keys (QUEUE-022)
    assert tables == {"batchq_tenant": store | read_model}, tables  # all of them there, none in public


def test_a_schema_name_that_needs_quoting_is_refused_in_one_line(cli: Cli) -> None:
    bad_schema = Cli({**cli.env, "BATCHQ_DATABASE_SCHEMA": "Batchq-Tenant"}, cli.work_dir)

    result = bad_schema.run("migrate")

    assert result.code == 1, str(result)
    assert_one_clear_line(result.stderr, "BATCHQ_DATABASE_SCHEMA", "Batchq-Tenant")


def test_a_missing_submission_file_is_bad_usage_in_one_line(cli: Cli) -> None:
    missing = cli.work_dir / "no-such-file.json"

    result = cli.run("submit", str(missing))

    assert result.code == 2, str(result)
    assert_one_clear_line(result.stderr, str(missing))


@pytest.mark.parametrize("service", ["dispatcher", "worker", "reporter"])
def test_a_service_on_an_unmigrated_database_exits_1_naming_migrate(cli: Cli, service: str) -> None:
    result = cli.run("run", service, timeout=60)

    assert result.code == 1, str(result)
    assert_one_clear_line(result.stderr, "batchq migrate", "BATCHQ_DATABASE_URL")


@pytest.mark.parametrize("args", [("status", "00000000-0000-0000-0000-000000000001"), ("events", "--json")])
def test_a_read_on_an_unmigrated_database_exits_1_naming_migrate(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli.run(*args)

    assert result.code == 1, str(result)
    assert_one_clear_line(result.stderr, "batchq migrate")


def test_events_into_a_pipe_the_reader_closes_early_end_quietly(migrated: Cli, processes: Processes) -> None:
    processes.start("dispatcher")
    doc = submission([job() for _ in range(1000)])  # some 300 kB of JSON lines: more than a pipe holds
    migrated.submit(doc)
    migrated.wait_for_events(lambda events: len(events) > 1000, batch_id=doc["batch_id"], what="the jobs")

    for args in (("events", "--json"), ("events", "--json", "--follow")):
        result = migrated.run_into_closed_pipe(*args, lines=1)

        assert result.code == 0, str(result)
        assert result.stdout.startswith("{") and result.stderr == "", str(result)
