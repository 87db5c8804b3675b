"""What a fault test asks of the broker once the fault is over: consumers back, publishing answered.

`SERVICE_QUEUES` are the queues a running dispatcher and worker consume from (the
reporter and the dispatcher's outcomes follow the store's log, not a queue); after a
broker restart each must have its consumer again, or the service is alive but deaf,
which no log line would show.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

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


async def _held_unacked(amqp_url: str, hold: float) -> str | None:
    async with await aio_pika.connect(amqp_url, timeout=10) as connection:
        channel = await connection.channel()
        closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_close(_: Any, error: BaseException | None) -> None:
            if not closed.done():
                closed.set_result(repr(error))

        channel.close_callbacks.add(on_close)
        queue = await channel.declare_queue(exclusive=True)
        await channel.default_exchange.publish(aio_pika.Message(b"held, never acked"), queue.name, timeout=10)

        async def hold_it(_: AbstractIncomingMessage) -> None:
            pass  # never acked: the broker's consumer timeout is what ends this

        await queue.consume(hold_it)
        try:
            return await asyncio.wait_for(asyncio.shield(closed), hold)
        except TimeoutError:
            return None


def unacked_delivery_closes_its_channel(amqp_url: str, hold: float) -> str | None:
    """How the broker closed a channel that held a delivery unacked for up to `hold` s; None if it did not.

    The proof that a consumer-timeout test tests something: on this node a consumer
    that keeps a delivery past `consumer_timeout` loses its channel.
    """
    return asyncio.run(_held_unacked(amqp_url, hold))
