"""Item idempotency (the Job System Workflow seed): one owner per released item.

For one (tenant, target, key, version) the first job to claim the item owns it. A
later job for the same item is SKIPPED, pointing at the owner: done if the owner
COMPLETED, not done otherwise. A new version is a new item, so a re-release runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from domain.base import BatchqAggregate, BatchqCreated, BatchqEvent, pinned

ITEM_NAMESPACE = UUID("f3c5d2a8-2b61-4c1e-8f0a-6d9b7e4c1a55")


def item_id(tenant: str, item: dict[str, Any]) -> UUID:
    """A stable id per (tenant, target, key, version), so racing claims collide in the store."""
    name = "\x1f".join([tenant, str(item["target"]), str(item["key"]), str(item["version"])])
    return uuid5(ITEM_NAMESPACE, name)


@pinned
class ItemClaimed(BatchqCreated):
    target: str
    key: str
    version: int
    job_uuid: UUID

    def apply(self, item: Item) -> None:
        super().apply(item)
        item.target = self.target
        item.key = self.key
        item.item_version = self.version
        item.owner = self.job_uuid


@pinned
class ItemReclaimed(BatchqEvent):
    """An explicit retry with override made another job the owner."""

    job_uuid: UUID

    def apply(self, item: Item) -> None:
        item.owner = self.job_uuid


class Item(BatchqAggregate):
    if TYPE_CHECKING:  # annotations only: a runtime annotation would make the aggregate a dataclass
        target: str
        key: str
        item_version: int
        owner: UUID

    def reclaim(self, job_uuid: UUID, now: datetime) -> None:
        if self.owner != job_uuid:
            self._record(ItemReclaimed, now, job_uuid=job_uuid)


def claim_item(
    *, tenant: str, user_id: str, trace_id: str, batch_id: UUID, item: dict[str, Any], job_uuid: UUID, now: datetime
) -> Item:
    return Item._begin(
        ItemClaimed,
        item_id(tenant, item),
        now,
        tenant=tenant,
        user_id=user_id,
        trace_id=trace_id,
        batch_id=batch_id,
        target=str(item["target"]),
        key=str(item["key"]),
        version=int(item["version"]),
        job_uuid=job_uuid,
    )
