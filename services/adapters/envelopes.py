"""Stored events as the contract's event envelopes, fast: built as dicts, dumped by orjson.

The relay builds one envelope per event on the hot path, so this avoids a
pydantic model per event; a contract test parses its output with
`contracts.envelope.EventEnvelope` to keep the two in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

import orjson
from eventsourcing.domain import DomainEvent

from contracts import names
from contracts.base import SCHEMA_VERSION

_ENVELOPE_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "tenant",
        "user_id",
        "trace_id",
        "batch_id",
    }
)


def occurred_at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def aggregate_type(event: DomainEvent) -> str:
    """`job`, `batch`, `queue` or `item`: the domain module the event belongs to."""
    return type(event).__module__.rsplit(".", 1)[-1]


def event_id(event: DomainEvent) -> UUID:
    """Stable per (aggregate, version), so a republished event keeps its id."""
    return uuid5(event.originator_id, str(event.originator_version))


def envelope(position: int, event: DomainEvent) -> dict[str, Any]:
    fields = vars(event)
    return {
        "schema_version": SCHEMA_VERSION,
        "position": position,
        "event_id": event_id(event),
        "type": type(event).__name__,
        "aggregate_type": aggregate_type(event),
        "aggregate_id": event.originator_id,
        "aggregate_version": event.originator_version,
        "occurred_at": occurred_at(event.timestamp),
        "tenant": fields["tenant"],
        "user_id": fields["user_id"],
        "trace_id": fields["trace_id"] or "-",
        "batch_id": fields["batch_id"],
        "data": {k: v for k, v in fields.items() if k not in _ENVELOPE_FIELDS},
    }


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return occurred_at(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def routing_key(env: dict[str, Any]) -> str:
    return names.event_routing_key(env["tenant"], env["aggregate_type"], env["type"])
