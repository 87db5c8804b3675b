"""The `eventsourcing` mapper with personal fields sealed on the way in and unsealed on the way out.

The library's `Mapper` turns an event into its stored state in one step; this
one seals between the event's fields and their JSON (`sealing.Sealer`), so every
reader and writer of the store (services, the CLI, the relay) sees events as they
were made, or `"[erased]"`, and nothing else needs to know. The rest is the
library's own conversion: topics, class versions and upcasting, unchanged.
"""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from services.adapters.sealing import Sealer, aggregate_of


class SealingMapper(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder, sealer: Sealer) -> None:
        super().__init__(transcoder)
        self.sealer = sealer

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        event_class = type(domain_event)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(event_class, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        state = self.sealer.seal(event_class.__name__, aggregate_of(event_class), state, self.transcoder.encode)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(event_class),
            state=self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        event_class = resolve_topic(stored_event.topic)
        try:
            state: dict[str, Any] = self.transcoder.decode(stored_event.state)
        except Exception as error:
            raise MapperDeserialisationError(
                f"cannot read the stored event {stored_event.originator_id} v{stored_event.originator_version}: {error}"
            ) from error
        state = self.sealer.unseal(state, self.transcoder.decode)
        originator_id = stored_event.originator_id
        state["originator_id"] = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        state["originator_version"] = stored_event.originator_version
        class_version = getattr(event_class, "class_version", 1)
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(event_class, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        domain_event = object.__new__(event_class)
        object.__setattr__(domain_event, "__dict__", state)
        return cast(DomainEventProtocol[UUID], domain_event)
