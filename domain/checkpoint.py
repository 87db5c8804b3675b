"""The Checkpoint aggregate: one per copy of the store taken before an upgrade (QUEUE-016).

A checkpoint is a fact about the installation, not a tenant's batch: it belongs
to the system tenant, carries no batch, and is never changed once recorded. The
copy itself holds the store only up to `position`, so this event, recorded
after it, is in the store the copy was taken from, never in the copy.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.base import BatchqAggregate, BatchqCreated, pinned
from domain.queue import SYSTEM_TENANT


@pinned
class CheckpointCreated(BatchqCreated):
    label: str
    position: int
    store_schema_version: int
    location: str

    def apply(self, checkpoint: Checkpoint) -> None:
        super().apply(checkpoint)
        checkpoint.label = self.label
        checkpoint.position = self.position
        checkpoint.store_schema_version = self.store_schema_version
        checkpoint.location = self.location


class Checkpoint(BatchqAggregate):
    if TYPE_CHECKING:  # annotations only: a runtime annotation would make the aggregate a dataclass
        label: str
        position: int
        store_schema_version: int
        location: str


def create_checkpoint(
    checkpoint_id: UUID,
    *,
    label: str,
    position: int,
    store_schema_version: int,
    location: str,
    requested_by: str,
    now: datetime,
) -> Checkpoint:
    """The record of a checkpoint `requested_by` took of the store up to `position`."""
    return Checkpoint._begin(
        CheckpointCreated,
        checkpoint_id,
        now,
        tenant=SYSTEM_TENANT,
        user_id=requested_by,
        trace_id="",
        batch_id=None,
        label=label,
        position=position,
        store_schema_version=store_schema_version,
        location=location,
    )
