"""Event messages are acted on only when the relay published them (CONTRACT v1.1, identity and roles).

`batchq.events` carries facts that batchq's own services act on (a completion can
send a batch to REPORTING); anyone able to publish there could forge one. RabbitMQ
validates each message's `user_id` property against its publisher's connection,
so a consumer trusts exactly the messages whose `user_id` is the relay's user, and
dead-letters and counts the rest.
"""

from __future__ import annotations

from collections import Counter

from services.adapters.bus import Delivery, Verdict
from services.adapters.logging import get_logger
from services.adapters.settings import Settings, principal_of

log = get_logger("batchq.events")

FORGED: Counter[str] = Counter()  # refused event messages, by the principal that sent them


def relay_principal(settings: Settings) -> str:
    return settings.relay_principal or principal_of(settings.relay_amqp_url or settings.amqp_url)


def unless_from_relay(delivery: Delivery, relay: str) -> Verdict | None:
    """None for the relay's own message; else the verdict that dead-letters it, logged and counted."""
    if delivery.user_id == relay:
        return None
    sender = delivery.user_id or "(no user_id)"
    FORGED[sender] += 1
    log.warning("event_not_from_relay", queue=delivery.queue, routing_key=delivery.routing_key, sent_by=sender)
    return Verdict.reject(f"FORBIDDEN: event messages are taken from the relay's principal {relay} only, not {sender}")
