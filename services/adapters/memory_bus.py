"""The in-process adapter of the bus port, for the embedded mode (`batchq dev`, `batchq demo`).

Same exchanges, bindings, delivery limit and dead-letter rules as RabbitMQ,
held in asyncio queues: a second adapter behind the same port, not a second
implementation. Several services may share one bus: each connects and closes
it, and the topology is declared once and torn down with the last close.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import replace

from contracts import names
from services.adapters.bus import Delivery, Handler, Message, Outcome, Verdict
from services.adapters.logging import get_logger
from services.adapters.topology import DELIVERY_LIMIT, queues

log = get_logger("batchq.bus")


def _topic_regex(pattern: str) -> re.Pattern[str]:
    words = [r"[^.]+" if w == "*" else r".*" if w == "#" else re.escape(w) for w in pattern.split(".")]
    return re.compile(r"^" + r"\.".join(words) + r"$")


EMBEDDED_PRINCIPAL = "dev"


class MemoryBus:
    def __init__(self, principal: str = EMBEDDED_PRINCIPAL) -> None:
        # One process, one user: every message is published as `principal`, as RabbitMQ
        # stamps a connection's user (the embedded mode's operator: see services/cli/embedded.py).
        self.principal = principal
        self.queues: dict[str, asyncio.Queue[Delivery]] = {}
        self.bindings: dict[str, list[tuple[str, re.Pattern[str] | str]]] = {}
        self.consumers: dict[str, list[asyncio.Task[None]]] = {}
        self.connections = 0
        self.names = itertools.count(1)

    async def connect(self) -> None:
        self.connections += 1
        if self.connections > 1:
            return
        for spec in queues():
            self.declare_queue(spec.name)
            for exchange, key in spec.bindings:
                self.bind(exchange, key, spec.name)
            rejected = names.rejected_queue(spec.name)
            self.declare_queue(rejected)
            self.bind(names.REJECTED_EXCHANGE, rejected, rejected)

    def declare_queue(self, queue: str) -> asyncio.Queue[Delivery]:
        return self.queues.setdefault(queue, asyncio.Queue())

    def bind(self, exchange: str, key: str, queue: str) -> None:
        matcher: re.Pattern[str] | str = _topic_regex(key) if names.EXCHANGE_TYPES.get(exchange) == "topic" else key
        self.bindings.setdefault(exchange, []).append((queue, matcher))

    def _route(self, exchange: str, routing_key: str) -> list[str]:
        if names.EXCHANGE_TYPES.get(exchange) == "fanout":
            return [queue for queue, _ in self.bindings.get(exchange, [])]
        routed = [
            queue
            for queue, matcher in self.bindings.get(exchange, [])
            if (matcher.match(routing_key) if isinstance(matcher, re.Pattern) else matcher == routing_key)
        ]
        alternate = names.ALTERNATE_EXCHANGES.get(exchange)
        return routed or (self._route(alternate, routing_key) if alternate else [])

    async def publish(self, exchange: str, message: Message, *, mandatory: bool = True) -> None:
        routed = self._route(exchange, message.routing_key)
        if not routed and mandatory:
            log.debug("message_unroutable", exchange=exchange, routing_key=message.routing_key)
        for queue in routed:
            self.queues[queue].put_nowait(
                Delivery(
                    queue=queue,
                    routing_key=message.routing_key,
                    body=message.body,
                    headers=dict(message.headers),
                    reply_to=message.reply_to,
                    correlation_id=message.correlation_id,
                    user_id=message.user_id or self.principal,
                )
            )

    async def publish_many(self, exchange: str, messages: Sequence[Message], *, mandatory: bool = True) -> None:
        for message in messages:
            await self.publish(exchange, message, mandatory=mandatory)

    async def reply(self, reply_to: str, correlation_id: str | None, body: bytes) -> None:
        queue = self.queues.get(reply_to)
        if queue is not None:
            queue.put_nowait(Delivery(queue=reply_to, routing_key=reply_to, body=body, correlation_id=correlation_id))

    async def request(self, exchange: str, message: Message, timeout: float = 30.0) -> bytes:
        reply_to = f"amq.gen-reply-{next(self.names)}"
        replies = self.declare_queue(reply_to)
        await self.publish(exchange, replace(message, reply_to=reply_to))
        try:
            async with asyncio.timeout(timeout):
                while True:
                    answer = await replies.get()
                    if answer.correlation_id == message.correlation_id:
                        return answer.body
        finally:
            self.queues.pop(reply_to, None)

    async def subscribe(self, exchange: str, keys: Sequence[str], handler: Handler) -> None:
        private = f"amq.gen-private-{next(self.names)}"
        self.declare_queue(private)
        for key in keys:
            self.bind(exchange, key, private)
        await self.consume(private, handler, prefetch=1)

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> None:
        source = self.declare_queue(queue)

        async def serve() -> None:
            while True:
                delivery = await source.get()
                # Shielded: stopping a consumer never abandons a message mid-handling.
                verdict = await asyncio.shield(self._handle(handler, delivery))
                await self._settle(source, delivery, verdict)

        self.consumers[queue] = [asyncio.create_task(serve()) for _ in range(prefetch)]

    async def _handle(self, handler: Handler, delivery: Delivery) -> Verdict:
        try:
            return await handler(delivery)
        except Exception as error:  # as the RabbitMQ adapter: a handler bug must not kill the consumer
            log.exception("handler_crashed", queue=delivery.queue)
            return Verdict.requeue(f"handler crashed: {error!r}")

    async def _settle(self, source: asyncio.Queue[Delivery], delivery: Delivery, verdict: Verdict) -> None:
        deliveries = int(delivery.headers.get("x-delivery-count", 0)) + 1
        if verdict.outcome is Outcome.REQUEUE and deliveries < DELIVERY_LIMIT:
            await asyncio.sleep(0.5)
            headers = {**delivery.headers, "x-delivery-count": deliveries}
            source.put_nowait(replace(delivery, redelivered=True, headers=headers))
        elif verdict.outcome is not Outcome.ACK:
            headers = {**delivery.headers, names.ERROR_HEADER: verdict.reason}
            rejected = Message(names.rejected_queue(delivery.queue), delivery.body, headers)
            await self.publish(names.REJECTED_EXCHANGE, rejected)

    async def waiting(self, queue: str) -> int:
        return self.queues[queue].qsize() if queue in self.queues else 0

    async def stop_consuming(self, queue: str) -> None:
        for task in self.consumers.pop(queue, []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        self.connections -= 1
        if self.connections <= 0:
            for queue in list(self.consumers):
                await self.stop_consuming(queue)
