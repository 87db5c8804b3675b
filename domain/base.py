"""What every batchq aggregate and event shares: pinned topics and provenance.

Every event names the tenant, user, trace and batch it belongs to, so the relay
can route it and an auditor can filter it without loading anything else. Event
topics are pinned (`batchq:<EventType>`) so that moving a class never orphans
stored history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

SCHEMA_VERSION = 1

EventClass = TypeVar("EventClass", bound=type)

# Every pinned event class by its wire name (`JobFailed`): how a reader of an
# envelope tells events apart by class rather than by comparing type strings.
EVENT_CLASSES: dict[str, type] = {}


def pinned(event_class: EventClass) -> EventClass:
    """Give an event class the stable topic `batchq:<ClassName>` and register it."""
    name = f"batchq:{event_class.__name__}"
    event_class.TOPIC = name  # type: ignore[attr-defined]
    register_topic(name, event_class)
    EVENT_CLASSES[event_class.__name__] = event_class
    return event_class


@dataclass(frozen=True)
class ProvenanceFields:
    tenant: str
    user_id: str
    trace_id: str
    batch_id: UUID | None


class BatchqEvent(Aggregate.Event, ProvenanceFields):
    """A change to an existing aggregate."""


class BatchqCreated(Aggregate.Created, ProvenanceFields):
    """The first event of an aggregate; it also fixes the schema version."""

    schema_version: int

    def apply(self, aggregate: Any) -> None:
        aggregate.tenant = self.tenant
        aggregate.user_id = self.user_id
        aggregate.trace_id = self.trace_id
        aggregate.batch_id = self.batch_id
        aggregate.schema_version = self.schema_version


def fold(events: Iterable[Aggregate.Event], into: dict[UUID, Any] | None = None) -> dict[UUID, Any]:
    """Aggregates rebuilt from their events, in the order given: the one way batchq replays history.

    The store loads with it, `status --at` folds the events up to a moment with
    it, and the demo follows a live log with it (`into`: the aggregates so far).
    """
    aggregates: dict[UUID, Any] = {} if into is None else into
    for event in events:
        aggregates[event.originator_id] = event.mutate(aggregates.get(event.originator_id))
    return aggregates


class BatchqAggregate(Aggregate):
    """Base aggregate: its events carry its provenance and an explicit time."""

    if TYPE_CHECKING:  # annotations only: a runtime annotation would make the aggregate a dataclass
        tenant: str
        user_id: str
        trace_id: str
        batch_id: UUID | None
        schema_version: int

    @classmethod
    def _begin(cls, event_class: type[BatchqCreated], aggregate_id: UUID, now: datetime, **fields: Any) -> Self:
        """A new aggregate from its first event, stamped with the current schema version."""
        return cls._create(event_class, id=aggregate_id, timestamp=now, schema_version=SCHEMA_VERSION, **fields)

    def _record(self, event_class: type[BatchqEvent], now: datetime, **fields: Any) -> None:
        self.trigger_event(
            event_class,
            timestamp=now,
            tenant=self.tenant,
            user_id=self.user_id,
            trace_id=self.trace_id,
            batch_id=self.batch_id,
            **fields,
        )
