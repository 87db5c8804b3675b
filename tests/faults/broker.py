"""What a fault test asks of the broker once the fault is over: consumers back, publishing answered.

`SERVICE_QUEUES` are the queues a running dispatcher and worker consume from (the
reporter and the dispatcher's outcomes follow the store's log, not a queue); after a
broker restart each must have its consumer again, or the service is alive but deaf,
which no log line would show.
"""

from __future__ import annotations

import time
from collections import Counter
from urllib.parse import unquote, urlsplit

from tests.e2e.broker import publish_requests, request
from tests.e2e.cli import Cli, job, submission
from tests.faults.private_servers import PrivateRabbit

SERVICE_QUEUES = (
    "batchq.dispatcher.manifests",
    "batchq.dispatcher.commands",
    "batchq.jobs.default",
)


def vhost_of(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).path.lstrip("/"))


def wait_for_consumers(rabbit: PrivateRabbit, amqp_url: str, timeout: float = 60.0) -> Counter[str]:
    """Until every service queue has exactly one consumer again (one process serves each)."""
    deadline = time.monotonic() + timeout
    while True:
        consumers = rabbit.consumers(vhost_of(amqp_url))
        if all(consumers[queue] == 1 for queue in SERVICE_QUEUES):
            return consumers
        if time.monotonic() > deadline:
            raise AssertionError(f"consumers not back after {timeout} s: {dict(consumers)}")
        time.sleep(0.5)


def answered_after_the_fault(cli: Cli, amqp_url: str, timeout: float = 20.0) -> str:
    """A new submission is answered within `timeout` (no publish hangs) and completes; its batch id."""
    doc = submission([job()])
    sent = request(doc)
    started = time.monotonic()
    replies = publish_requests(amqp_url, [sent], timeout=timeout)
    assert replies[sent.correlation_id]["ok"] is True, replies
    assert time.monotonic() - started < timeout
    cli.wait_for_batch(doc["batch_id"], "COMPLETED", timeout=timeout)
    return str(doc["batch_id"])
