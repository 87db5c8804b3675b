"""A job longer than RabbitMQ's consumer timeout runs normally: no delivery stays
unacked while a job runs, because the store, not the broker, owns a claimed job."""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import unquote, urlparse

import orjson

from services.adapters import ask
from tests.integration.harness import running_system
from tests.servers import RabbitServer

STATS_INTERVAL = 5.0


def test_no_delivery_stays_unacked_while_a_long_job_runs(
    database_url, amqp_url, smtp_server, rabbitmq_server: RabbitServer
) -> None:
    vhost = unquote(urlparse(amqp_url).path.lstrip("/"))

    async def scenario() -> list[int]:
        async with running_system(database_url, amqp_url, smtp_server.url) as system:
            job_uuid = uuid.uuid4()
            body = orjson.dumps(
                {
                    "schema_version": 1,
                    "batch_id": str(uuid.uuid4()),
                    "tenant": "acme",
                    "user_id": "u1",
                    "depositor_email": "d@example.org",
                    "jobs": [{"job_uuid": str(job_uuid), "handler": "sleep", "params": {"seconds": 9}}],
                }
            )
            code, _ = await ask.submit(system.bus, body)
            assert code == 0
            samples: list[int] = []
            running_since = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                job = system.store.get(job_uuid)
                if job.status.value == "PROCESSING":
                    running_since = running_since or time.monotonic()
                    # The management API refreshes queue statistics every 5 s (rabbitmqctl
                    # asks the queue itself): only samples taken well after the claim count.
                    if time.monotonic() - running_since > STATS_INTERVAL + 1:
                        unacked = rabbitmq_server.admin.unacked_messages
                        samples.append(await asyncio.to_thread(unacked, vhost, "batchq.jobs.default"))
                if job.status.value == "COMPLETED":
                    return samples
                await asyncio.sleep(0.5)
            raise AssertionError("the long job did not complete")

    samples = asyncio.run(scenario())
    assert len(samples) >= 2, "the job should have been seen running for a while"
    assert samples == [0] * len(samples), f"deliveries left unacked while the job ran: {samples}"
