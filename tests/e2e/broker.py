"""Talking to RabbitMQ directly, as a producer (or a misbehaving one) would: aio-pika, no batchq code.

`publish_requests` publishes raw bodies with `reply_to` and `correlation_id` and collects the
answers; `drain` reads what a queue holds (e.g. `batchq.dispatcher.manifests.rejected`);
`publish_job_messages` puts job messages straight onto `batchq.jobs`, as a redelivery would;
`bind_queue` declares an auditor's own durable queue on an exchange.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

MANIFESTS_EXCHANGE = "batchq.manifests"
JOBS_EXCHANGE = "batchq.jobs"
MANIFESTS_REJECTED_QUEUE = "batchq.dispatcher.manifests.rejected"
ERROR_HEADER = "x-batchq-error"


@dataclass(frozen=True)
class Request:
    correlation_id: str
    body: bytes


@dataclass(frozen=True)
class Received:
    """A message taken from a queue (a dead letter, an event an auditor got)."""

    body: bytes
    correlation_id: str | None
    headers: dict[str, Any]
    routing_key: str = ""

    @property
    def error(self) -> str:
        value = self.headers.get(ERROR_HEADER, "")
        return value.decode() if isinstance(value, bytes) else str(value)


AS_CONNECTION_USER = "as the connection's user"


def user_of(amqp_url: str) -> str:
    """The principal a producer on this URL is: RabbitMQ checks `user_id` against it."""
    return unquote(urlparse(amqp_url).username or "guest")


def body_of(document: Any) -> bytes:
    return document if isinstance(document, bytes) else json.dumps(document).encode()


def request(document: Any) -> Request:
    return Request(uuid.uuid4().hex, body_of(document))


async def _publish_requests(
    amqp_url: str,
    requests: Sequence[Request],
    exchange: str,
    routing_key: str,
    timeout: float,
    producers: int,
    user_id: str | None,
) -> dict[str, dict[str, Any]]:
    """Publish each request (over `producers` connections at once) and wait for every reply."""
    user_id = user_of(amqp_url) if user_id == AS_CONNECTION_USER else user_id
    replies: dict[str, dict[str, Any]] = {}
    done = asyncio.Event()
    async with await aio_pika.connect(amqp_url, timeout=10) as listener:
        channel = await listener.channel()
        reply_queue = await channel.declare_queue(exclusive=True, auto_delete=True)

        async def on_reply(message: AbstractIncomingMessage) -> None:
            if message.correlation_id:
                replies[message.correlation_id] = json.loads(message.body)
            if len(replies) >= len(requests):
                done.set()

        await reply_queue.consume(on_reply, no_ack=True)

        async def produce(share: Sequence[Request]) -> None:
            async with await aio_pika.connect(amqp_url, timeout=10) as connection:
                producer = await connection.channel(publisher_confirms=True)
                target = await producer.get_exchange(exchange, ensure=True)
                await asyncio.gather(
                    *(
                        target.publish(
                            aio_pika.Message(
                                r.body,
                                content_type="application/json",
                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                reply_to=reply_queue.name,
                                correlation_id=r.correlation_id,
                                user_id=user_id,
                            ),
                            routing_key,
                            mandatory=True,
                            timeout=30,
                        )
                        for r in share
                    )
                )

        shares = [list(requests[i::producers]) for i in range(producers)]
        await asyncio.gather(*(produce(share) for share in shares if share))
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            missing = [r.correlation_id for r in requests if r.correlation_id not in replies]
            raise AssertionError(f"no reply within {timeout} s to {len(missing)} of {len(requests)} requests") from None
    return replies


def publish_requests(
    amqp_url: str,
    requests: Sequence[Request],
    *,
    exchange: str = MANIFESTS_EXCHANGE,
    routing_key: str = "submit",
    timeout: float = 60.0,
    producers: int = 1,
    user_id: str | None = AS_CONNECTION_USER,
) -> dict[str, dict[str, Any]]:
    """The reply to each request, by correlation_id; published with the `user_id` property
    a producer sets (its own user), or none (`user_id=None`)."""
    return asyncio.run(_publish_requests(amqp_url, requests, exchange, routing_key, timeout, producers, user_id))


async def _drain(amqp_url: str, queue_name: str) -> list[Received]:
    found = []
    async with await aio_pika.connect(amqp_url, timeout=10) as connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        while (message := await queue.get(no_ack=True, fail=False, timeout=5)) is not None:
            found.append(
                Received(message.body, message.correlation_id, dict(message.headers or {}), message.routing_key or "")
            )
    return found


def drain(amqp_url: str, queue_name: str) -> list[Received]:
    """Take every message `queue_name` holds now."""
    return asyncio.run(_drain(amqp_url, queue_name))


def wait_for_dead_letters(amqp_url: str, queue_name: str, count: int, timeout: float = 15.0) -> list[Received]:
    """Drain `queue_name` until at least `count` messages came out."""
    deadline = time.monotonic() + timeout
    found: list[Received] = []
    while len(found) < count:
        found += drain(amqp_url, queue_name)
        if len(found) >= count:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{queue_name}: {len(found)} of {count} messages within {timeout} s: {found}")
        time.sleep(0.2)
    return found


async def _publish_job_messages(amqp_url: str, bodies: Sequence[bytes], routing_key: str) -> None:
    async with await aio_pika.connect(amqp_url, timeout=10) as connection:
        channel = await connection.channel(publisher_confirms=True)
        jobs = await channel.get_exchange(JOBS_EXCHANGE, ensure=True)
        await asyncio.gather(
            *(
                jobs.publish(
                    aio_pika.Message(
                        body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                    ),
                    routing_key,
                    mandatory=True,
                    timeout=30,
                )
                for body in bodies
            )
        )


def publish_job_messages(amqp_url: str, jobs: Sequence[tuple[str, str]], routing_key: str = "default") -> None:
    """Publish a job message per (job_uuid, batch_id), as the dispatcher does (a duplicate delivery)."""
    bodies = [
        json.dumps({"schema_version": 1, "job_uuid": job_uuid, "batch_id": batch_id}).encode()
        for job_uuid, batch_id in jobs
    ]
    asyncio.run(_publish_job_messages(amqp_url, bodies, routing_key))


async def _bind_queue(amqp_url: str, queue_name: str, exchange: str, routing_keys: Sequence[str]) -> None:
    async with await aio_pika.connect(amqp_url, timeout=10) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        for key in routing_keys:
            await queue.bind(exchange, key)


def bind_queue(amqp_url: str, queue_name: str, exchange: str, routing_keys: Sequence[str]) -> None:
    """Declare a durable queue of the test's own and bind it, as an auditor would."""
    asyncio.run(_bind_queue(amqp_url, queue_name, exchange, routing_keys))


async def _publish_raw(amqp_url: str, exchange: str, messages: Sequence[tuple[str, Request]]) -> None:
    async with await aio_pika.connect(amqp_url, timeout=10) as connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=True)
        for routing_key, r in messages:
            await target.publish(
                aio_pika.Message(
                    r.body, content_type="application/json", correlation_id=r.correlation_id, user_id=user_of(amqp_url)
                ),
                routing_key,
                mandatory=True,
                timeout=30,
            )


def publish_raw(amqp_url: str, exchange: str, messages: Sequence[tuple[str, Request]]) -> None:
    """Publish (routing key, request) pairs without reply_to: nobody is told, so only the dead letter shows."""
    asyncio.run(_publish_raw(amqp_url, exchange, messages))
