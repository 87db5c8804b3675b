"""Every exchange, queue, routing key and header name batchq uses, each once.

Services declare their topology from these names at start-up; nothing else
spells them out. Queues are named `batchq.<service>.<purpose>`; a queue's
rejected messages go through the dead-letter exchange `batchq.rejected` to
`<queue>.rejected`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

# Exchanges.
MANIFESTS_EXCHANGE: Final = "batchq.manifests"
COMMANDS_EXCHANGE: Final = "batchq.commands"
EVENTS_EXCHANGE: Final = "batchq.events"
JOBS_EXCHANGE: Final = "batchq.jobs"
# Dead-letter exchange (direct). A queue dead-letters with
# `x-dead-letter-routing-key = rejected_queue(queue)`, and each rejected queue is
# bound under its own name, so one exchange serves every queue.
REJECTED_EXCHANGE: Final = "batchq.rejected"

# Alternate exchanges (fanout). A message on `batchq.manifests` or `batchq.commands`
# whose routing key no queue is bound to would be dropped by the broker (or only
# returned to its publisher); through these it reaches the dispatcher's own queue,
# which refuses it INVALID_MESSAGE and dead-letters it like any bad message.
MANIFESTS_UNROUTABLE_EXCHANGE: Final = "batchq.manifests.unroutable"
COMMANDS_UNROUTABLE_EXCHANGE: Final = "batchq.commands.unroutable"
ALTERNATE_EXCHANGES: Final[dict[str, str]] = {
    MANIFESTS_EXCHANGE: MANIFESTS_UNROUTABLE_EXCHANGE,
    COMMANDS_EXCHANGE: COMMANDS_UNROUTABLE_EXCHANGE,
}

EXCHANGE_TYPES: Final[dict[str, str]] = {
    MANIFESTS_EXCHANGE: "direct",
    COMMANDS_EXCHANGE: "direct",
    EVENTS_EXCHANGE: "topic",
    JOBS_EXCHANGE: "direct",
    REJECTED_EXCHANGE: "direct",
    MANIFESTS_UNROUTABLE_EXCHANGE: "fanout",
    COMMANDS_UNROUTABLE_EXCHANGE: "fanout",
}

# Routing keys. On `batchq.commands` the key is the command name; on
# `batchq.jobs` it is the pool name; on `batchq.events`, `event_routing_key`.
SUBMIT_ROUTING_KEY: Final = "submit"


class CommandName(StrEnum):
    """Wire names of the admin commands, also their routing keys."""

    RETRY_JOB = "retry_job"
    CANCEL_JOB = "cancel_job"
    DELETE_BATCH = "delete_batch"
    UPDATE_REPORTING = "update_reporting"
    PAUSE_QUEUE = "pause_queue"
    RESUME_QUEUE = "resume_queue"
    GRANT_ROLE = "grant_role"
    REVOKE_ROLE = "revoke_role"
    SET_QUOTA = "set_quota"
    START_CANARY = "start_canary"
    PROMOTE_CANARY = "promote_canary"
    ABORT_CANARY = "abort_canary"
    ERASE_DEPOSITOR = "erase_depositor"


class Pool(StrEnum):
    """Worker pools, the routing keys of `batchq.jobs`."""

    DEFAULT = "default"
    CANARY = "canary"


# Queues.
DISPATCHER_MANIFESTS_QUEUE: Final = "batchq.dispatcher.manifests"
DISPATCHER_COMMANDS_QUEUE: Final = "batchq.dispatcher.commands"
DISPATCHER_EVENTS_QUEUE: Final = "batchq.dispatcher.events"
REPORTER_EVENTS_QUEUE: Final = "batchq.reporter.events"
WORKER_CONTROL_QUEUE: Final = "batchq.worker.control"  # optional
JOBS_DEFAULT_QUEUE: Final = "batchq.jobs.default"
JOBS_CANARY_QUEUE: Final = "batchq.jobs.canary"
JOB_QUEUES: Final[dict[Pool, str]] = {
    Pool.DEFAULT: JOBS_DEFAULT_QUEUE,
    Pool.CANARY: JOBS_CANARY_QUEUE,
}

# Headers.
ERROR_HEADER: Final = "x-batchq-error"

_REJECTED_SUFFIX: Final = ".rejected"
_WILDCARDS: Final = frozenset("*#")


def job_queue(pool: str) -> str:
    """The queue a pool's workers consume: `batchq.jobs.<pool>`."""
    return JOB_QUEUES[Pool(pool)]


def rejected_queue(queue: str) -> str:
    """Where `queue` dead-letters what it cannot accept: `<queue>.rejected`."""
    if queue.endswith(_REJECTED_SUFFIX):
        raise ValueError(f"{queue} is already a rejected queue")
    return queue + _REJECTED_SUFFIX


def _segment(name: str, value: str) -> str:
    if not value or "." in value or _WILDCARDS & set(value):
        raise ValueError(f"{name} {value!r} cannot be a routing-key segment")
    return value


def event_routing_key(tenant: str, aggregate_type: str, event_type: str) -> str:
    """The key an event is published under: `<tenant>.<aggregate>.<EventType>`.

    Example: `event_routing_key("acme", "job", "JobFailed") == "acme.job.JobFailed"`.
    """
    return ".".join(
        (
            _segment("tenant", tenant),
            _segment("aggregate_type", aggregate_type),
            _segment("event_type", event_type),
        )
    )


def event_binding_key(tenant: str = "*", aggregate_type: str = "*", event_type: str = "*") -> str:
    """A binding pattern on `batchq.events`; omitted parts match anything.

    `event_binding_key(event_type="BatchReportingStarted") == "*.*.BatchReportingStarted"`;
    `event_binding_key("acme") == "acme.*.*"` (every event of one tenant).
    """
    return f"{tenant}.{aggregate_type}.{event_type}"
