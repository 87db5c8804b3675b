"""The Queue aggregate: whether jobs may start (QUEUE-014). One per installation."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from domain.base import BatchqAggregate, BatchqCreated, BatchqEvent, pinned
from domain.errors import IllegalTransitionError

QUEUE_ID = uuid5(UUID("6b0d3d4e-5c7a-4f37-9d1e-0b7f0c1a2e3d"), "batchq.queue.default")
SYSTEM_TENANT = "batchq"


@pinned
class QueueCreated(BatchqCreated):
    def apply(self, queue: Queue) -> None:
        super().apply(queue)
        queue.paused = False
        queue.paused_by = None
        queue.pause_reason = ""


@pinned
class QueuePaused(BatchqEvent):
    requested_by: str
    reason: str = ""

    def apply(self, queue: Queue) -> None:
        queue.paused = True
        queue.paused_by = self.requested_by
        queue.pause_reason = self.reason


@pinned
class QueueResumed(BatchqEvent):
    requested_by: str
    reason: str = ""

    def apply(self, queue: Queue) -> None:
        queue.paused = False
        queue.paused_by = None
        queue.pause_reason = ""


class Queue(BatchqAggregate):
    if TYPE_CHECKING:  # annotations only: a runtime annotation would make the aggregate a dataclass
        paused: bool
        paused_by: str | None
        pause_reason: str

    def pause(self, requested_by: str, reason: str, now: datetime) -> None:
        if self.paused:
            raise IllegalTransitionError("queue", self.id, "PAUSED", "pause")
        self._record(QueuePaused, now, requested_by=requested_by, reason=reason)

    def resume(self, requested_by: str, reason: str, now: datetime) -> None:
        if not self.paused:
            raise IllegalTransitionError("queue", self.id, "RUNNING", "resume")
        self._record(QueueResumed, now, requested_by=requested_by, reason=reason)


def create_queue(now: datetime) -> Queue:
    return Queue._begin(
        QueueCreated, QUEUE_ID, now, tenant=SYSTEM_TENANT, user_id=SYSTEM_TENANT, trace_id="", batch_id=None
    )
