"""Port test: a failed batch, a successful retry and an update report, through the real services.

The scenario talks only to the ports (submissions and admin commands over the
bus, status rebuilt from the event store, reports read from the depositor's
mailbox), so the same scenario runs on both adapter sets: the embedded one (SQLite,
in-process bus, mail folder) and the real one (PostgreSQL, RabbitMQ, SMTP).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.adapters import ask, history
from services.adapters.bus import Bus
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.cli import embedded
from services.cli.demo import read_mails
from tests.integration.harness import running_system

WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class Adapters:
    """What the scenario needs from a running batchq: its bus, its store, the depositor's mail."""

    bus: Bus
    store: EventStore
    subjects: Callable[[str], list[str]]  # the report subjects for a batch, oldest first
    bodies: Callable[[str], list[str]]


@asynccontextmanager
async def embedded_adapters(directory: Path) -> AsyncIterator[Adapters]:
    async with embedded.running(directory, Settings()) as system:

        def mails(batch_id: str) -> list[Any]:
            return [m for m in read_mails(system.mail_folder) if m.batch_id == batch_id]

        yield Adapters(
            bus=system.bus,
            store=system.store,
            subjects=lambda batch_id: [m.subject for m in mails(batch_id)],
            bodies=lambda batch_id: [m.body for m in mails(batch_id)],
        )


async def status(adapters: Adapters, batch_id: str) -> dict[str, Any]:
    loaded = await asyncio.to_thread(history.load_batch, adapters.store, uuid.UUID(batch_id))
    return history.status_document(*loaded)


async def wait_for(
    adapters: Adapters, batch_id: str, done: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        doc = await status(adapters, batch_id)
        if done(doc):
            return doc
        if loop.time() > deadline:
            pytest.fail(f"waited {WAIT_SECONDS}s for {what}; the batch is {doc}")
        await asyncio.sleep(0.05)


async def command(adapters: Adapters, body: dict[str, Any]) -> dict[str, Any]:
    code, reply = await ask.send_command(adapters.bus, body)
    assert code == 0, reply
    return reply


async def failed_batch_with_successful_retry(adapters: Adapters) -> None:
    batch_id, job_uuids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(3)]
    submission = {
        "schema_version": 1, "batch_id": batch_id, "tenant": "acme", "user_id": "depositor-7",
        "depositor_email": "depositor@example.org",
        "jobs": [
            {"job_uuid": job_uuids[0], "handler": "noop"},
            {"job_uuid": job_uuids[1], "handler": "noop"},
            {"job_uuid": job_uuids[2], "handler": "flaky", "params": {"fail_times": 1}},
        ],
    }  # fmt: skip
    code, reply = await ask.submit(adapters.bus, orjson.dumps(submission))
    assert code == 0, reply

    doc = await wait_for(adapters, batch_id, lambda d: d["status"] == "FAILED", "FAILED")
    assert [job["status"] for job in doc["jobs"]] == ["COMPLETED", "COMPLETED", "FAILED"]
    assert doc["jobs"][2]["error"]["code"] == "FLAKY"
    assert len(adapters.subjects(batch_id)) == 1

    await command(adapters, {"command": "retry_job", "job_uuid": job_uuids[2], "reason": "test"})
    doc = await wait_for(adapters, batch_id, lambda d: d["jobs"][2]["status"] == "COMPLETED", "job 3 COMPLETED")
    assert doc["status"] == "FAILED", "a retried job leaves the batch FAILED until update_reporting"

    await command(adapters, {"command": "update_reporting", "batch_id": batch_id})
    doc = await wait_for(adapters, batch_id, lambda d: d["status"] == "COMPLETED", "COMPLETED")
    assert [r["kind"] for r in doc["reports"]] == ["initial", "update"]
    first, update = adapters.subjects(batch_id)
    assert batch_id in first and "FAILED" in first
    assert update.startswith("Update:") and "COMPLETED" in update
    changed = adapters.bodies(batch_id)[1].split("Changed since the last report:")[1]
    assert job_uuids[2] in changed.split("\n\n")[0]


@asynccontextmanager
async def server_adapters(database_url: str, amqp_url: str, smtp_server: Any) -> AsyncIterator[Adapters]:
    async with running_system(database_url, amqp_url, smtp_server.url) as system:

        def mails(batch_id: str) -> list[Any]:
            return [m for m in smtp_server.messages if m["X-Batchq-Batch-Id"] == batch_id]

        yield Adapters(
            bus=system.bus,
            store=system.store,
            subjects=lambda batch_id: [str(m["Subject"]) for m in mails(batch_id)],
            bodies=lambda batch_id: [m.get_content() for m in mails(batch_id)],
        )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("adapter_set", ["embedded", "postgresql-rabbitmq"])
def test_failed_batch_with_successful_retry(adapter_set: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """One scenario, both adapter sets: the embedded mode is the same services behind other adapters."""

    def adapters() -> Any:
        if adapter_set == "embedded":
            return embedded_adapters(tmp_path)
        servers = [request.getfixturevalue(name) for name in ("database_url", "amqp_url", "smtp_server")]
        return server_adapters(*servers)

    async def scenario() -> None:
        async with adapters() as running:
            await failed_batch_with_successful_retry(running)

    asyncio.run(scenario())
