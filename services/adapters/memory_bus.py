"""The in-process adapter of the bus port, for the embedded mode (`batchq dev`).

Same exchanges, bindings and dead-letter rules as RabbitMQ, held in asyncio
queues: a second adapter behind the same port, not a second implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from dataclasses import replace

from contracts import names
from services.adapters.bus import Delivery, Handler, Message, Outcome
from services.adapters.topology import queues


def _topic_regex(pattern: str) -> re.Pattern[str]:
    words = [r"[^.]+" if w == "*" else r".*" if w == "#" else re.escape(w) for w in pattern.split(".")]
    return re.compile(r"^" + r"\.".join(words) + r"$")


class MemoryBus:
    def __init__(self) -> None:
        self.queues: dict[str, asyncio.Queue[Delivery]] = {}
        self.bindings: dict[str, list[tuple[str, re.Pattern[str] | str]]] = {}
        self.consumers: dict[str, list[asyncio.Task[None]]] = {}
        self.replies: dict[str, asyncio.Queue[Delivery]] = {}

    async def connect(self) -> None:
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
        return [
            queue
            for queue, matcher in self.bindings.get(exchange, [])
            if (matcher.match(routing_key) if isinstance(matcher, re.Pattern) else matcher == routing_key)
        ]

    async def publish(self, exchange: str, message: Message, *, mandatory: bool = True) -> None:
        for queue in self._route(exchange, message.routing_key):
            self.queues[queue].put_nowait(
                Delivery(
                    queue=queue,
                    routing_key=message.routing_key,
                    body=message.body,
                    headers=dict(message.headers),
                    reply_to=message.reply_to,
                    correlation_id=message.correlation_id,
                )
            )

    async def publish_many(self, exchange: str, messages: Sequence[Message], *, mandatory: bool = True) -> None:
        for message in messages:
            await self.publish(exchange, message, mandatory=mandatory)

    async def reply(self, reply_to: str, correlation_id: str | None, body: bytes) -> None:
        self.declare_queue(reply_to).put_nowait(
            Delivery(queue=reply_to, routing_key=reply_to, body=body, correlation_id=correlation_id)
        )

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> None:
        source = self.declare_queue(queue)

        async def serve() -> None:
            while True:
                delivery = await source.get()
                # Shielded: stopping a consumer never abandons a message mid-handling.
                verdict = await asyncio.shield(handler(delivery))
                if verdict.outcome is Outcome.REQUEUE:
                    await asyncio.sleep(0.5)
                    source.put_nowait(replace(delivery, redelivered=True))
                elif verdict.outcome is Outcome.REJECT:
                    headers = {**delivery.headers, names.ERROR_HEADER: verdict.reason}
                    rejected = Message(names.rejected_queue(queue), delivery.body, headers)
                    await self.publish(names.REJECTED_EXCHANGE, rejected)

        self.consumers[queue] = [asyncio.create_task(serve()) for _ in range(prefetch)]

    async def request(self, exchange: str, message: Message, timeout: float = 30.0) -> bytes:
        reply_to = f"reply.{len(self.queues)}"
        replies = self.declare_queue(reply_to)
        await self.publish(exchange, replace(message, reply_to=reply_to))
        try:
            return (await asyncio.wait_for(replies.get(), timeout)).body
        finally:
            self.queues.pop(reply_to, None)

    async def subscribe(self, exchange: str, keys: Sequence[str], handler: Handler) -> None:
        private = f"private.{len(self.queues)}"
        self.declare_queue(private)
        for key in keys:
            self.bind(exchange, key, private)
        await self.consume(private, handler, prefetch=1)

    async def stop_consuming(self, queue: str) -> None:
        for task in self.consumers.pop(queue, []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        for queue in list(self.consumers):
            await self.stop_consuming(queue)
