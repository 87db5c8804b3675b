"""The message bus port: what services need from RabbitMQ, and the shapes they trade.

Handlers never ack or reject: they return a `Verdict`, and the bus adapter alone
acts on the delivery. A rejected message is never dropped silently: the adapter
dead-letters it to `<queue>.rejected` with the reason in `x-batchq-error`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol


@dataclass(frozen=True)
class Delivery:
    queue: str
    routing_key: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None
    correlation_id: str | None = None
    user_id: str | None = None
    redelivered: bool = False


class Outcome(Enum):
    ACK = "ack"
    REJECT = "reject"  # dead-letter with a reason: the message itself is bad
    REQUEUE = "requeue"  # try again later: something around the message failed


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""
    # REJECT only: let the broker dead-letter it (the queue's x-dead-letter-exchange) rather
    # than republish it with `x-batchq-error`: for a body too big to copy again in memory.
    in_place: bool = False

    @classmethod
    def ack(cls) -> Verdict:
        return cls(Outcome.ACK)

    @classmethod
    def reject(cls, reason: str, *, in_place: bool = False) -> Verdict:
        return cls(Outcome.REJECT, reason, in_place)

    @classmethod
    def requeue(cls, reason: str) -> Verdict:
        return cls(Outcome.REQUEUE, reason)


@dataclass(frozen=True)
class Message:
    routing_key: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    reply_to: str | None = None
    correlation_id: str | None = None
    mandatory: bool = True  # False: no queue bound is normal (an event nobody asked for)
    # Who publishes it: the AMQP `user_id` property, which RabbitMQ checks against the
    # connection's user. None: the connection's own user (only an `impersonator` may differ).
    user_id: str | None = None


Handler = Callable[[Delivery], Awaitable[Verdict]]


class Bus(Protocol):
    async def connect(self) -> None: ...

    async def publish(self, exchange: str, message: Message, *, mandatory: bool = True) -> None:
        """Publish one message and wait for the broker's confirm."""

    async def publish_many(self, exchange: str, messages: Sequence[Message], *, mandatory: bool = True) -> None:
        """Publish in order, confirms pipelined; returns when all are confirmed."""

    async def reply(self, reply_to: str, correlation_id: str | None, body: bytes) -> None: ...

    async def request(self, exchange: str, message: Message, timeout: float = 30.0) -> bytes:
        """Publish and wait for the reply (`reply_to` and `correlation_id` are set for you)."""

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> None:
        """Start delivering `queue` to `handler`, at most `prefetch` at a time."""

    async def subscribe(self, exchange: str, keys: Sequence[str], handler: Handler) -> None:
        """Deliver matching messages to `handler` through a private queue that dies with us."""

    async def stop_consuming(self, queue: str) -> None: ...

    async def waiting(self, queue: str) -> int:
        """How many messages `queue` holds ready for delivery (not those delivered and unacknowledged)."""

    async def close(self) -> None: ...
