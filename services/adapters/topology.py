"""The RabbitMQ topology every service declares at start-up (idempotently).

Each service declares all of it, not just its own part, so that whichever
process starts first, no event is published before its consumers' queues exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts import names

DELIVERY_LIMIT = 5


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)


WORKER_CONTROL_KEYS = ("*.queue.QueuePaused", "*.queue.QueueResumed", "*.job.JobCancelled")

# The events batchq's own services must hear: the relay publishes these `mandatory`,
# so a missing queue is reported; any other event may go unrouted (auditors bind
# what they want), and RabbitMQ need not send it back.
REQUIRED_EVENT_TYPES = frozenset(
    key.rsplit(".", 1)[1] for key in WORKER_CONTROL_KEYS
)
# Queues of earlier versions, deleted at start-up: nothing consumes them any more, and a queue
# still bound would fill for ever. The dispatcher and the reporter read the store's log now
# (services/adapters/follower.py): a quorum-queue message per job spared, and no report
# waits for the relay.
OBSOLETE_QUEUES = tuple(
    queue
    for event_queue in (names.DISPATCHER_EVENTS_QUEUE, names.REPORTER_EVENTS_QUEUE)
    for queue in (event_queue, names.rejected_queue(event_queue))
)


def queues() -> list[QueueSpec]:
    return [
        QueueSpec(
            names.DISPATCHER_MANIFESTS_QUEUE,
            ((names.MANIFESTS_EXCHANGE, names.SUBMIT_ROUTING_KEY), (names.MANIFESTS_UNROUTABLE_EXCHANGE, "")),
        ),
        QueueSpec(
            names.DISPATCHER_COMMANDS_QUEUE,
            (
                *((names.COMMANDS_EXCHANGE, command.value) for command in names.CommandName),
                (names.COMMANDS_UNROUTABLE_EXCHANGE, ""),
            ),
        ),
        *(QueueSpec(queue, ((names.JOBS_EXCHANGE, pool.value),)) for pool, queue in names.JOB_QUEUES.items()),
    ]


def exchange_arguments(exchange: str) -> dict[str, object]:
    alternate = names.ALTERNATE_EXCHANGES.get(exchange)
    return {"alternate-exchange": alternate} if alternate else {}


def queue_arguments(queue: str, queue_type: str) -> dict[str, object]:
    arguments: dict[str, object] = {
        "x-queue-type": queue_type,
        "x-dead-letter-exchange": names.REJECTED_EXCHANGE,
        "x-dead-letter-routing-key": names.rejected_queue(queue),
    }
    if queue_type == "quorum":
        # RabbitMQ 3.10 quorum queues have no default limit: a poison message
        # would otherwise be redelivered for ever.
        arguments["x-delivery-limit"] = DELIVERY_LIMIT
    return arguments
