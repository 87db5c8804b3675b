"""Answering and refusing messages the same way in every service (CONTRACT: wire conventions).

A refused message is answered when it has `reply_to`, logged with its code and
reason, counted in `batchq_messages_refused_total`, and handed back to the bus adapter to dead-letter.
"""

from __future__ import annotations

from typing import Any

from contracts.commands import Reply
from contracts.errors import ContractError
from domain.errors import DomainError
from services.adapters.bus import Bus, Delivery, Verdict
from services.adapters.logging import get_logger
from services.adapters.metrics import MESSAGES_REFUSED

log = get_logger("batchq.replies")


async def answer(bus: Bus, delivery: Delivery, reply: Reply) -> None:
    if delivery.reply_to:
        await bus.reply(delivery.reply_to, delivery.correlation_id, reply.to_json())


async def accept(bus: Bus, delivery: Delivery, result: dict[str, Any]) -> Verdict:
    await answer(bus, delivery, Reply.success(result))
    return Verdict.ack()


async def refuse(
    bus: Bus, delivery: Delivery, refusal: ContractError | DomainError, *, in_place: bool = False, **context: Any
) -> Verdict:
    """`in_place`: the broker dead-letters it (its `x-death` header, not `x-batchq-error`, tells why)."""
    error = ContractError.of(refusal)
    MESSAGES_REFUSED.labels(code=error.code).inc()
    log.warning("message_refused", queue=delivery.queue, code=error.code, reason=error.reason, **context)
    await answer(bus, delivery, Reply.failure(error.code, error.reason))
    return Verdict.reject(f"{error.code}: {error.reason}", in_place=in_place)
