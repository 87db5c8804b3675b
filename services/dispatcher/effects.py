"""What a dispatcher use case asks its async shell to do, once the state it decided on is saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.batch import Batch
from domain.job import Job
from domain.queue import Queue

SAVE_ATTEMPTS = 5  # an append tried again after a conflict, each time on fresh state


@dataclass(frozen=True)
class Dispatch:
    job_uuid: UUID
    batch_id: UUID
    pool: str


@dataclass
class Effects:
    dispatch: list[Dispatch] = field(default_factory=list)
    timers: list[tuple[UUID, datetime]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    # Whose batch or job a command acted on: `batch_id`, `tenant`, `user_id`, `trace_id` for its log line.
    provenance: dict[str, str] = field(default_factory=dict)

    def merge(self, other: Effects) -> Effects:
        self.dispatch.extend(other.dispatch)
        self.timers.extend(other.timers)
        return self


def provenance(aggregate: Batch | Job | Queue) -> dict[str, str]:
    batch_id = aggregate.batch_id or (aggregate.id if isinstance(aggregate, Batch) else None)
    return {
        "batch_id": str(batch_id) if batch_id else "-",
        "tenant": aggregate.tenant,
        "user_id": aggregate.user_id,
        "trace_id": aggregate.trace_id or "-",
    }
