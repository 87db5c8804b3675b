"""A store in a schema of its own (`BATCHQ_DATABASE_SCHEMA`): every table batchq touches lives there.

A query built on a bare table name looks in `public` (the search path) and fails;
`public` must end up with no batchq table at all.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson

from services.adapters import ask, history
from services.projections.schema import TABLES as READ_MODEL_TABLES
from tests.integration.harness import running_system, tables_by_schema

SCHEMA = "batchq_tenant"
BATCHQ_TABLES = {
    "batchq_events", "batchq_relay", "batchq_workers", "batchq_migrations", "batchq_personal_keys", "batchq_secrets",
    *READ_MODEL_TABLES,
}  # fmt: skip


def test_jobs_are_claimed_and_completed_in_a_non_public_schema(database_url, amqp_url, smtp_server) -> None:
    async def scenario() -> dict[str, object]:
        async with running_system(database_url, amqp_url, smtp_server.url, database_schema=SCHEMA) as system:
            batch_id = uuid.uuid4()
            body = orjson.dumps({
                "schema_version": 1, "batch_id": str(batch_id), "tenant": "acme", "user_id": "u1",
                "depositor_email": "d@example.org",
                "jobs": [{"job_uuid": str(uuid.uuid4()), "handler": "noop"} for _ in range(3)],
            })  # fmt: skip
            code, reply = await ask.submit(system.bus, body)
            assert code == 0, reply
            deadline = time.monotonic() + 30
            while True:
                doc = history.status_document(*await asyncio.to_thread(history.load_batch, system.store, batch_id))
                if doc["status"] == "COMPLETED" or time.monotonic() > deadline:
                    return doc
                await asyncio.sleep(0.2)

    doc = asyncio.run(scenario())

    assert doc["status"] == "COMPLETED", doc
    assert [job["status"] for job in doc["jobs"]] == ["COMPLETED"] * 3
    assert [report["kind"] for report in doc["reports"]] == ["initial"]
    tables = tables_by_schema(database_url)
    assert tables.get(SCHEMA) == BATCHQ_TABLES, tables
    assert "public" not in tables, tables
