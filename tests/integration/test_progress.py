"""Progress is recorded at a bounded rate: a handler may report every tick, the
store gets at most one JobProgressed per interval, and `status` shows the latest."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson

from services.adapters import ask, history
from tests.integration.harness import running_system

INTERVAL = 2.0
SECONDS = 6  # the `sleep` handler reports progress once a second


def test_progress_is_recorded_at_most_once_per_interval(database_url, amqp_url, smtp_server) -> None:
    async def scenario() -> tuple[list[float], list[object]]:
        async with running_system(
            database_url, amqp_url, smtp_server.url, progress_interval_seconds=INTERVAL
        ) as system:
            batch_id, job_uuid = uuid.uuid4(), uuid.uuid4()
            body = orjson.dumps({
                "schema_version": 1, "batch_id": str(batch_id), "tenant": "acme", "user_id": "u1",
                "depositor_email": "d@example.org",
                "jobs": [{"job_uuid": str(job_uuid), "handler": "sleep", "params": {"seconds": SECONDS}}],
            })  # fmt: skip
            code, reply = await ask.submit(system.bus, body)
            assert code == 0, reply
            shown: list[object] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                doc = history.status_document(*await asyncio.to_thread(history.load_batch, system.store, batch_id))
                shown.append(doc["jobs"][0]["progress"])
                if doc["status"] == "COMPLETED":
                    break
                await asyncio.sleep(0.5)
            recorded_history = await asyncio.to_thread(system.store.history, [job_uuid])
            recorded = [r.event.progress for r in recorded_history if type(r.event).__name__ == "JobProgressed"]
            return recorded, shown

    recorded, shown = asyncio.run(scenario())
    assert 2 <= len(recorded) <= SECONDS / INTERVAL + 1, recorded  # not one event per tick (6)
    assert recorded == sorted(recorded) and all(0 < p <= 1 for p in recorded), recorded
    assert any(isinstance(p, float) and 0 < p < 1 for p in shown), f"status never showed progress: {shown}"
