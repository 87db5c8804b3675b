"""The envelope every event travels in on `batchq.events`, and the message that carries it.

The relay builds one envelope per stored event. A message on `batchq.events`
(schema 2, `EventMessage`) carries consecutive events that share one routing
key, in position order: `{"schema_version": 2, "events": [envelope, ...]}`;
consumers read it with `event_envelopes`. `data` is the event's own payload,
left as a free dict: its shape belongs to the event type, not to the envelope.

Unlike commands, the envelope ignores fields it does not know: an event is a
fact that already happened, and a reader must not refuse a fact because a
newer writer added an optional field to it.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import pydantic_core
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from contracts.base import SCHEMA_VERSION, Identifier, SchemaVersion, WireModel
from contracts.errors import ContractError, ErrorCode
from contracts.names import event_routing_key
from contracts.parsing import decode, describe_validation_error
from domain.base import EVENT_CLASSES

EventTypeName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]{0,99}$")]


class AggregateType(StrEnum):
    """What an event is about; the middle segment of its routing key."""

    BATCH = "batch"
    JOB = "job"
    QUEUE = "queue"
    ITEM = "item"  # the owner of a released item (target, key, version)
    ACCESS = "access"  # grants of roles to principals (tenant `batchq`)
    QUOTAS = "quotas"  # the quotas of tenants and depositors (tenant `batchq`)
    CHECKPOINT = "checkpoint"  # a copy of the store taken before an upgrade
    CANARY = "canary"  # a canary stage of a new worker version
    DEPOSITOR = "depositor"  # a data subject's erasures, named by a keyed hash (the depositor's tenant)


# Events about the installation rather than one batch: they carry no batch_id.
UNBATCHED = frozenset(
    {
        AggregateType.QUEUE,
        AggregateType.ACCESS,
        AggregateType.QUOTAS,
        AggregateType.CHECKPOINT,
        AggregateType.CANARY,
        AggregateType.DEPOSITOR,
    }
)


class EventEnvelope(WireModel):
    """One stored event as published: where it sits in the store, whose it is, what it says."""

    model_config = ConfigDict(extra="ignore")

    schema_version: SchemaVersion = SCHEMA_VERSION
    position: int = Field(ge=0)
    event_id: UUID
    type: EventTypeName
    aggregate_type: AggregateType
    aggregate_id: UUID
    aggregate_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    tenant: Identifier
    user_id: Identifier | Literal["[erased]"]  # "[erased]": the depositor was erased (QUEUE-022)
    trace_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    batch_id: UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, occurred_at: datetime) -> datetime:
        return occurred_at.astimezone(UTC)

    @model_validator(mode="after")
    def _batch_id_unless_queue(self) -> EventEnvelope:
        if self.batch_id is None and self.aggregate_type not in UNBATCHED:
            raise PydanticCustomError(
                "batch_id_required",
                "batch_id is required for a {aggregate_type} event",
                {"aggregate_type": str(self.aggregate_type)},
            )
        return self

    @field_serializer("occurred_at")
    def _utc_with_microseconds(self, occurred_at: datetime) -> str:
        # Always six digits and `Z`, so the strings sort as the instants do.
        return occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @property
    def routing_key(self) -> str:
        """`<tenant>.<aggregate_type>.<type>`, e.g. `acme.job.JobFailed`."""
        return event_routing_key(self.tenant, self.aggregate_type, self.type)

    @classmethod
    def from_json(cls, body: bytes) -> EventEnvelope:
        """Decode a published envelope; raises `ContractError` as `decode` does."""
        return decode(cls, body)


class EventHeading(BaseModel):
    """What batchq's own followers of the store's log read of an event: which aggregate, event and version.

    Built from the columns of a stored event (`services/adapters/follower.py`),
    never from its body: `data` is not read, whatever its size.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: EventTypeName
    aggregate_id: UUID
    aggregate_version: int = Field(ge=1)
    position: int = Field(ge=0)
    batch_id: UUID | None = None

    @property
    def event_class(self) -> builtins.type | None:
        """The domain's class of this event; None for a type this code does not know."""
        return EVENT_CLASSES.get(self.type)


# The message on `batchq.events`, not the envelope: its envelopes keep schema_version 1.
EVENT_MESSAGE_VERSION: Final = 2


class EventMessage(BaseModel):
    """One message on `batchq.events`: consecutive events with one routing key, oldest first.

    Many events to a message (up to a page of the store, or 1 MiB) because a
    message costs the relay, the broker and every consumer nearly the same
    whatever its size: see README, Performance. The routing key is every
    event's own, so bindings and topic permissions select what they did per event.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Annotated[
        int, Field(strict=True, ge=EVENT_MESSAGE_VERSION, le=EVENT_MESSAGE_VERSION, json_schema_extra={"const": 2})
    ] = EVENT_MESSAGE_VERSION
    events: list[EventEnvelope] = Field(min_length=1)


def event_envelopes(body: bytes) -> list[EventEnvelope]:
    """The events of one message on `batchq.events`, oldest first; `ContractError` if it holds none.

    Schema 2 is an `EventMessage`; a schema-1 body is one envelope, as a relay
    before schema 2 published it (read during a rolling upgrade).
    """
    try:
        document = pydantic_core.from_json(body)
    except ValueError:
        raise ContractError(ErrorCode.INVALID_MESSAGE, "body is not JSON") from None
    if isinstance(document, dict) and document.get("schema_version") == EVENT_MESSAGE_VERSION:
        try:
            return EventMessage.model_validate(document).events
        except ValidationError as error:
            raise ContractError(ErrorCode.INVALID_MESSAGE, describe_validation_error(error)) from None
    return [EventEnvelope.from_json(body)]
