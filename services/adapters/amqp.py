"""The RabbitMQ adapter of the bus port (aio-pika): confirms, timeouts, dead-letters.

Every publish waits for the broker's confirm with a timeout (aio-pika's publish
can hang while disconnected). Unroutable messages published `mandatory` come
back as returns: for events that just means nobody subscribed to that key.

A broker restart (tests/faults/test_broker_faults.py) closes every channel under
running handlers and pending publishes. Handlers run to their end regardless, a
publish waits (bounded) for its channel to be restored, and whatever still fails
is an `AMQPError`, the one kind of broker failure callers handle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection

from contracts import names
from services.adapters.addresses import redact
from services.adapters.bus import Delivery, Handler, Message, Outcome, Verdict
from services.adapters.logging import get_logger, silenced
from services.adapters.settings import principal_of
from services.adapters.setup_errors import SetupError
from services.adapters.topology import OBSOLETE_QUEUES, exchange_arguments, queue_arguments, queues

log = get_logger("batchq.bus")

PUBLISH_TIMEOUT = 30.0
PUBLISH_SLICE = 2000


class BrokerUnavailableError(SetupError):
    def __init__(self, address: str, cause: object) -> None:
        super().__init__(f"cannot reach {address} (BATCHQ_AMQP_URL): {cause}")


def _properties(message: Message, principal: str) -> aiormq.spec.Basic.Properties:
    return aiormq.spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=2,  # persistent
        headers=message.headers or None,
        reply_to=message.reply_to,
        correlation_id=message.correlation_id,
        user_id=message.user_id or principal,
    )


def _delivery(queue: str, incoming: AbstractIncomingMessage) -> Delivery:
    """What a handler sees of a message: its `user_id` too, the publisher RabbitMQ vouches for."""
    return Delivery(
        queue=queue,
        routing_key=incoming.routing_key or "",
        body=incoming.body,
        headers=dict(incoming.headers or {}),
        reply_to=incoming.reply_to,
        correlation_id=incoming.correlation_id,
        user_id=incoming.user_id,
        redelivered=bool(incoming.redelivered),
    )


def _log_return(_channel: object, message: AbstractIncomingMessage) -> None:
    """A mandatory message no queue took: the topology is missing a queue someone needs."""
    log.error("message_unroutable", exchange=message.exchange, routing_key=message.routing_key)


class AmqpBus:
    def __init__(self, url: str, *, queue_type: str = "quorum") -> None:
        self.url = url
        self.principal = principal_of(url)  # every message it publishes carries it as `user_id`
        self.queue_type = queue_type
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractRobustChannel | None = None
        self.consumers: dict[str, tuple[Any, str]] = {}
        self.exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
        self.handling: set[asyncio.Future[None]] = set()  # handlers running, shielded from channel closes

    async def connect(self) -> None:
        try:
            with silenced("aio_pika", "aiormq"):  # a failed first connect is reported in our one line
                self.connection = await aio_pika.connect_robust(self.url, timeout=10)
        except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as error:
            raise BrokerUnavailableError(redact(self.url), error or type(error).__name__) from None
        self.channel = await self.connection.channel(publisher_confirms=True, on_return_raises=False)
        self.channel.return_callbacks.add(_log_return)
        await self.declare()

    async def declare(self) -> None:
        assert self.channel is not None
        for name, kind in names.EXCHANGE_TYPES.items():
            self.exchanges[name] = await self.channel.declare_exchange(
                name, kind, durable=True, arguments=exchange_arguments(name)
            )
        for spec in queues():
            queue = await self.channel.declare_queue(
                spec.name, durable=True, arguments=queue_arguments(spec.name, self.queue_type)
            )
            for exchange, key in spec.bindings:
                await queue.bind(exchange, key)
            rejected = await self.channel.declare_queue(names.rejected_queue(spec.name), durable=True)
            await rejected.bind(names.REJECTED_EXCHANGE, names.rejected_queue(spec.name))
        for obsolete in OBSOLETE_QUEUES:
            await self.channel.queue_delete(obsolete)  # idempotent: RabbitMQ deletes a missing queue quietly

    def _message(self, message: Message) -> aio_pika.Message:
        return aio_pika.Message(
            message.body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=message.headers or None,
            reply_to=message.reply_to,
            correlation_id=message.correlation_id,
        )

    async def publish(self, exchange: str, message: Message, *, mandatory: bool = True) -> None:
        await self.publish_many(exchange, [message], mandatory=mandatory)

    async def publish_many(self, exchange: str, messages: Sequence[Message], *, mandatory: bool = True) -> None:
        """Pipelined on the underlying aiormq channel: a third cheaper per message than
        aio-pika's `Exchange.publish`, and the relay publishes every event."""
        assert self.channel is not None
        try:
            channel = await self._restored(self.channel)
            # In slices, each with its own timeout: a 100,000-job dispatch is not one
            # 30-second deadline, and a stuck broker is still noticed within one.
            for start in range(0, len(messages), PUBLISH_SLICE):
                confirms = [
                    channel.basic_publish(
                        m.body,
                        exchange=exchange,
                        routing_key=m.routing_key,
                        properties=_properties(m, self.principal),
                        mandatory=mandatory and m.mandatory,
                    )
                    for m in messages[start : start + PUBLISH_SLICE]
                ]
                async with asyncio.timeout(PUBLISH_TIMEOUT):
                    await asyncio.gather(*confirms)
        except aiormq.exceptions.ChannelInvalidStateError as error:
            # A RuntimeError to aiormq; to us the broker went away mid-publish, like any
            # AMQPError. Before, it escaped the relay's handling and killed its process.
            raise aiormq.exceptions.ChannelClosed(f"publish on a closed channel: {error}") from error
        except asyncio.CancelledError as error:
            # A connection found stuck (no heartbeat: a stalled broker) fails its pending
            # confirms with CancelledError, though nobody cancelled us. Passed on as it was,
            # it went through every `except Exception` and ended the relay's process.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we are being cancelled: stop
            raise aiormq.exceptions.ChannelClosed("connection lost before the broker confirmed") from error

    @staticmethod
    async def _restored(channel: AbstractRobustChannel) -> aiormq.abc.AbstractChannel:
        """The channel's live aiormq channel, once reconnected and restored (bounded).

        `get_underlay_channel` waits for the connection only: just after a reconnect
        it returns the old, closed channel until the robust channel reopens.
        """
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            await channel.ready()
        return await channel.get_underlay_channel()

    async def reply(self, reply_to: str, correlation_id: str | None, body: bytes) -> None:
        assert self.channel is not None
        message = Message(routing_key=reply_to, body=body, correlation_id=correlation_id)
        await self.channel.default_exchange.publish(
            self._message(message), reply_to, mandatory=False, timeout=PUBLISH_TIMEOUT
        )

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> None:
        assert self.connection is not None
        channel = await self.connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=prefetch)
        # Declared (same arguments as the topology), not merely looked up: the robust
        # channel restores declared queues and their consumers after a reconnect.
        declared = await channel.declare_queue(queue, durable=True, arguments=queue_arguments(queue, self.queue_type))

        async def on_message(incoming: AbstractIncomingMessage) -> None:
            # Shielded: when the broker closes the channel (a restart), aiormq cancels the
            # callbacks it runs. A handler cut off half-way left effects half-made: a worker
            # had recorded its claim of a job but never started it, so the job sat in
            # PROCESSING until the stuck timeout. It now runs to its end; its message,
            # unacked on the dead channel, comes again and is recognised as a stale copy.
            task = asyncio.ensure_future(self._handle(queue, handler, incoming))
            self.handling.add(task)
            task.add_done_callback(self.handling.discard)
            await asyncio.shield(task)

        tag = await declared.consume(on_message)
        self.consumers[queue] = (declared, tag)

    async def _handle(self, queue: str, handler: Handler, incoming: AbstractIncomingMessage) -> None:
        delivery = _delivery(queue, incoming)
        try:
            verdict = await handler(delivery)
        except Exception as error:  # a handler bug must not kill the consumer
            log.exception("handler_crashed", queue=queue)
            verdict = Verdict.requeue(f"handler crashed: {error!r}")
        try:
            await self._settle(incoming, delivery, verdict)
        except (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError) as error:
            # Its channel is gone: the broker puts the message back, and it comes again.
            log.warning("delivery_unsettled", queue=queue, outcome=verdict.outcome.value, reason=repr(error)[:200])

    async def request(self, exchange: str, message: Message, timeout: float = 30.0) -> bytes:
        """Publish and wait for the reply on a private queue (the CLI's admin commands)."""
        assert self.connection is not None
        channel = await self.connection.channel()
        replies = await channel.declare_queue(exclusive=True, auto_delete=True)
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def on_reply(incoming: AbstractIncomingMessage) -> None:
            if incoming.correlation_id == message.correlation_id and not answer.done():
                answer.set_result(incoming.body)

        await replies.consume(on_reply, no_ack=True)
        await self.publish(
            exchange,
            Message(
                message.routing_key,
                message.body,
                message.headers,
                reply_to=replies.name,
                correlation_id=message.correlation_id,
                user_id=message.user_id,
            ),
        )
        try:
            return await asyncio.wait_for(answer, timeout)
        finally:
            await channel.close()

    async def subscribe(self, exchange: str, keys: Sequence[str], handler: Handler) -> None:
        assert self.connection is not None
        channel = await self.connection.channel()
        private = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in keys:
            await private.bind(exchange, key)

        async def on_message(incoming: AbstractIncomingMessage) -> None:
            async with incoming.process(ignore_processed=True):
                await handler(_delivery(private.name, incoming))

        await private.consume(on_message)

    async def _settle(self, incoming: AbstractIncomingMessage, delivery: Delivery, verdict: Verdict) -> None:
        if verdict.outcome is Outcome.ACK:
            await incoming.ack()
        elif verdict.outcome is Outcome.REQUEUE:
            log.warning("message_requeued", queue=delivery.queue, reason=verdict.reason)
            await asyncio.sleep(0.5)  # no hot loop on a failing dependency
            await incoming.nack(requeue=True)
        elif verdict.in_place:
            log.warning("message_rejected", queue=delivery.queue, reason=verdict.reason, dead_lettered_by="broker")
            await incoming.reject(requeue=False)  # to <queue>.rejected, by the queue's dead-letter arguments
        else:
            log.warning("message_rejected", queue=delivery.queue, reason=verdict.reason)
            headers = {**delivery.headers, names.ERROR_HEADER: verdict.reason}
            dead = Message(
                routing_key=names.rejected_queue(delivery.queue),
                body=delivery.body,
                headers=headers,
                reply_to=delivery.reply_to,
                correlation_id=delivery.correlation_id,
            )
            await self.publish(names.REJECTED_EXCHANGE, dead)
            await incoming.ack()

    async def waiting(self, queue: str) -> int:
        assert self.connection is not None  # a channel of its own: a missing queue closes only that one
        async with self.connection.channel(publisher_confirms=False) as channel:
            declared = await channel.declare_queue(queue, passive=True)
            return int(declared.declaration_result.message_count or 0)

    async def stop_consuming(self, queue: str) -> None:
        entry = self.consumers.pop(queue, None)
        if entry is not None:
            declared, tag = entry
            await declared.cancel(tag)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
