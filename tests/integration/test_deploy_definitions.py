"""deploy/rabbitmq/definitions.json on a real broker: it loads, dead-letters, and confines users.

The topology is declared from the file into this test's vhost, as a service would declare it.
The users are imported under unique names into a vhost of their own and deleted afterwards,
so the broker other tests share is left as it was.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import pytest

from tests.servers import RabbitServer, with_path

DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "definitions.json"


def definitions() -> dict[str, Any]:
    return json.loads(DEFINITIONS.read_text())


async def declare(channel: aio_pika.abc.AbstractChannel, defs: dict[str, Any]) -> None:
    for exchange in defs["exchanges"]:
        await channel.declare_exchange(
            exchange["name"], exchange["type"], durable=True, arguments=exchange["arguments"]
        )
    for queue in defs["queues"]:
        await channel.declare_queue(queue["name"], durable=True, arguments=queue["arguments"])
    for binding in defs["bindings"]:
        queue = await channel.get_queue(binding["destination"])
        await queue.bind(binding["source"], routing_key=binding["routing_key"])


async def rejected_after(amqp_url: str, requeues: int) -> aio_pika.abc.AbstractIncomingMessage:
    """Publish a job, nack it `requeues` times, reject it once more; what reaches .rejected."""
    async with await aio_pika.connect(amqp_url, timeout=10) as connection:
        channel = await connection.channel()
        await declare(channel, definitions())
        jobs = await channel.get_exchange("batchq.jobs")
        await jobs.publish(aio_pika.Message(b"poison"), routing_key="default", mandatory=True)
        queue = await channel.get_queue("batchq.jobs.default")
        for _ in range(requeues):
            if (message := await queue.get(timeout=5, fail=False)) is None:
                break  # already dead-lettered
            await message.nack(requeue=True)
        if requeues == 0:
            await (await queue.get(timeout=5)).reject(requeue=False)
        rejected = await channel.get_queue("batchq.jobs.default.rejected")
        for _ in range(50):
            if (dead := await rejected.get(fail=False)) is not None:
                await dead.ack()
                return dead
            await asyncio.sleep(0.1)
        raise AssertionError("nothing reached batchq.jobs.default.rejected")


def test_a_rejected_job_is_dead_lettered_to_its_rejected_queue(amqp_url: str) -> None:
    dead = asyncio.run(rejected_after(amqp_url, requeues=0))
    assert dead.body == b"poison"
    assert dead.headers["x-death"][0]["reason"] == "rejected"  # type: ignore[index]


def test_a_job_redelivered_past_the_delivery_limit_is_dead_lettered(amqp_url: str) -> None:
    [queue] = [q for q in definitions()["queues"] if q["name"] == "batchq.jobs.default"]
    dead = asyncio.run(rejected_after(amqp_url, requeues=queue["arguments"]["x-delivery-limit"] + 1))
    assert dead.headers["x-death"][0]["reason"] == "delivery_limit"  # type: ignore[index]


def test_services_can_declare_their_topology_over_the_loaded_definitions(amqp_url: str) -> None:
    """The broker boots with the file; a service's own declaration must not be refused."""
    from services.adapters.amqp import AmqpBus

    async def boot_then_start_a_service() -> None:
        async with await aio_pika.connect(amqp_url, timeout=10) as connection:
            await declare(await connection.channel(), definitions())
        bus = AmqpBus(amqp_url)
        try:
            await bus.connect()  # declares every exchange, queue and binding it uses
        finally:
            await bus.close()

    asyncio.run(boot_then_start_a_service())


@pytest.fixture
def deployed_users(rabbitmq_server: RabbitServer) -> Iterator[tuple[str, str]]:
    """The file's users and vhost, renamed with a unique suffix; yields (amqp base URL, suffix)."""
    admin, suffix = rabbitmq_server.admin, f"-test-{secrets.token_hex(4)}"
    defs = json.loads(DEFINITIONS.read_text().replace('"batchq-', f'"t{suffix}-batchq-'))
    vhost = f"batchq-deploy{suffix}"
    for kind in ("vhosts", "permissions", "topic_permissions", "queues", "exchanges", "bindings"):
        for entry in defs[kind]:
            entry["vhost" if kind != "vhosts" else "name"] = vhost
    try:
        admin.import_definitions(defs)  # the management API, else rabbitmqctl
        yield rabbitmq_server.amqp_url, vhost
    finally:
        admin.delete_vhost(vhost)
        for user in defs["users"]:
            admin.delete_user(user["name"])


def login(base_url: str, vhost: str, user: str) -> str:
    suffix = vhost.removeprefix("batchq-deploy")
    netloc = f"t{suffix}-{user}:change-me@" + base_url.split("@", 1)[1].split("/", 1)[0]
    return with_path(f"amqp://{netloc}/", vhost)


async def refused(url: str, action: Any) -> bool:
    async with await aio_pika.connect(url, timeout=10) as connection:
        channel = await connection.channel()
        try:
            await action(channel)
        except aiormq.exceptions.ChannelAccessRefused:
            return True
        return False


def test_the_producer_may_publish_manifests_and_nothing_else(
    deployed_users: tuple[str, str],
) -> None:
    url = login(*deployed_users, "batchq-producer")

    async def publish_to(exchange: str) -> Any:
        async def action(channel: aio_pika.abc.AbstractChannel) -> None:
            target = await channel.get_exchange(exchange, ensure=False)
            await target.publish(aio_pika.Message(b"{}"), routing_key="submit")
            await channel.get_queue("batchq.jobs.default", ensure=True)  # a round trip

        return await refused(url, action)

    assert asyncio.run(publish_to("batchq.manifests")) is False
    assert asyncio.run(publish_to("batchq.commands")) is True


def test_the_acme_auditor_may_bind_to_acme_events_only(deployed_users: tuple[str, str]) -> None:
    url = login(*deployed_users, "batchq-auditor-acme")

    async def bind(key: str) -> bool:
        async def action(channel: aio_pika.abc.AbstractChannel) -> None:
            queue = await channel.declare_queue(f"batchq.audit.acme.{key}", auto_delete=True)
            await queue.bind("batchq.events", routing_key=key)

        return await refused(url, action)

    assert asyncio.run(bind("acme.#")) is False
    assert asyncio.run(bind("globex.#")) is True
    assert asyncio.run(bind("#")) is True


def test_every_deployed_user_logs_in_with_the_default_password(
    deployed_users: tuple[str, str],
) -> None:
    async def connects(user: str) -> None:
        connection = await aio_pika.connect(login(*deployed_users, user), timeout=10)
        await connection.close()

    for user in ("batchq-admin", "batchq-service", "batchq-producer", "batchq-auditor-acme"):
        asyncio.run(connects(user))
