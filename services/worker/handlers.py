"""What a job handler is, how it reports progress and errors, and how handlers are found.

A handler is a callable taking a `JobContext` and returning a JSON-serialisable
result; it may be `async`. Sync handlers run on a thread, so a CPU-bound one never
stops heartbeats or the AMQP connection. Handlers register under the entry-point
group `batchq.handlers`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any
from uuid import UUID

ENTRY_POINT_GROUP = "batchq.handlers"


class HandlerError(Exception):
    """A failure the handler can name: `code`, `reason` and the `stage` it happened in."""

    def __init__(self, code: str, reason: str, stage: str | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.stage = stage


@dataclass
class JobContext:
    job_uuid: UUID
    batch_id: UUID
    attempt: int
    params: dict[str, Any]
    payload_url: str | None
    stage: str = "execution"
    progress_value: float | None = None
    progress_message: str = ""
    progress_seen: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, fraction: float, message: str = "") -> None:
        """Report how far the job is (0..1); recorded at a bounded rate, latest wins."""
        with self.lock:
            self.progress_value = fraction
            self.progress_message = message

    def take_progress(self) -> tuple[float, str] | None:
        with self.lock:
            if self.progress_value is None or self.progress_value == self.progress_seen:
                return None
            self.progress_seen = self.progress_value
            return self.progress_value, self.progress_message


Handler = Callable[[JobContext], Any] | Callable[[JobContext], Awaitable[Any]]


def discover() -> dict[str, Handler]:
    return {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}
