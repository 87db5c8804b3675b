"""Stored events as the contract's event envelopes, fast: built as dicts, dumped by orjson.

The relay builds one envelope per event on the hot path, so this avoids a
pydantic model per event; a contract test parses its output with
`contracts.envelope.EventEnvelope` to keep the two in step.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any
from uuid import UUID, uuid5

import orjson
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification
from eventsourcing.utils import resolve_topic

from contracts import names
from contracts.base import SCHEMA_VERSION
from domain.job_ids import JobIds
from services.adapters.logging import get_logger
from services.adapters.sealing import Sealer
from services.adapters.transcodings import JOB_IDS, JobIdsAsBase64

log = get_logger("batchq.envelopes")

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
        "class_version",  # the store's own record of an event's shape; the wire has `schema_version`
    }
)


def occurred_at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def aggregate_type(event: DomainEvent) -> str:
    """`job`, `batch`, `queue` or `item`: the domain package the event belongs to (`domain.<aggregate>…`)."""
    return aggregate_type_of_class(type(event))


def aggregate_type_of_class(event_class: type) -> str:
    return event_class.__module__.split(".")[1]


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


def envelope_of_stored(notification: Notification, sealer: Sealer) -> dict[str, Any]:
    """The same envelope as `envelope`, straight from the stored JSON: the relay's hot path.

    Decoding through the `eventsourcing` mapper builds a dataclass per event only
    to take it apart again; this reads the stored state once with orjson.
    An event stored before the store insisted on strict JSON may hold NaN or
    Infinity, which orjson refuses: Python's reader takes them, and `dumps`
    writes them as null, so such an event can still be read and published.
    Personal fields are unsealed (`sealer`) as the mapper would.
    """
    try:
        fields = orjson.loads(notification.state)
    except orjson.JSONDecodeError:
        fields = json.loads(notification.state)
        log.warning("event_not_strict_json", position=notification.id, shown_as="non-finite numbers as null")
    fields = sealer.unseal(fields, orjson.loads)
    aggregate_id = notification.originator_id
    return {
        "schema_version": SCHEMA_VERSION,
        "position": notification.id,
        "event_id": uuid5(aggregate_id, str(notification.originator_version)),  # type: ignore[arg-type]
        "type": notification.topic.partition(":")[2],
        "aggregate_type": aggregate_type_of_topic(notification.topic),
        "aggregate_id": aggregate_id,
        "aggregate_version": notification.originator_version,
        "occurred_at": _plain(fields["timestamp"]),
        "tenant": fields["tenant"],
        "user_id": fields["user_id"],
        "trace_id": fields["trace_id"] or "-",
        "batch_id": _plain(fields["batch_id"]),
        "data": {k: _plain(v) for k, v in fields.items() if k not in _ENVELOPE_FIELDS},
    }


@cache
def aggregate_type_of_topic(topic: str) -> str:
    return aggregate_type_of_class(resolve_topic(topic))


def _plain(value: Any) -> Any:
    """Undo the stored JSON's type markers (`uuid_hex`, `datetime_iso`) into wire strings."""
    if isinstance(value, dict):
        kind = value.get("_type_")
        if kind is not None and len(value) == 2 and "_data_" in value:
            data = value["_data_"]
            if kind == "uuid_hex":
                return f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}"
            if kind == "datetime_iso":
                return occurred_at(datetime.fromisoformat(data))
            if kind == JOB_IDS:
                return list(JobIdsAsBase64().decode(data).strings())
            return _plain(data)
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return occurred_at(value)
    if isinstance(value, JobIds):
        return list(value.strings())
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def routing_key(env: dict[str, Any]) -> str:
    return names.event_routing_key(env["tenant"], env["aggregate_type"], env["type"])
