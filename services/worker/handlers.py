"""What a job handler is, how it reports progress and errors, and how handlers are found.

A handler is a callable taking a `JobContext` and returning a JSON-serialisable
result; it may be `async`. Sync handlers run on a thread, so a CPU-bound one never
stops heartbeats or the AMQP connection. Handlers register under the entry-point
group `batchq.handlers`.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any
from uuid import UUID

import orjson

ENTRY_POINT_GROUP = "batchq.handlers"


class HandlerError(Exception):
    """A failure the handler can name: `code`, `reason` and the `stage` it happened in."""

    def __init__(self, code: str, reason: str, stage: str | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.stage = stage


def check_result(result: object) -> None:
    """A result is stored in an event, so it must be strict JSON: no NaN or infinity, nothing exotic."""
    try:
        json.dumps(result, allow_nan=False)
        orjson.dumps(result)  # what reads it back: integers beyond 64 bits are refused there
    except (TypeError, ValueError) as error:
        raise HandlerError("INVALID_RESULT", f"the handler's result is not strict JSON: {error}", "result") from None


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
    # Set when the job is cancelled while it runs: a sync handler should look and stop (an async
    # handler's task is cancelled instead). Whatever it returns afterwards is refused.
    cancelled: bool = False
    erased: bool = False  # its params or payload_url were erased: it is failed, not run

    def progress(self, fraction: float, message: str = "") -> None:
        """Report how far the job is (0..1); recorded at a bounded rate, latest wins."""
        if not isinstance(fraction, int | float) or not math.isfinite(fraction):
            return  # a NaN is no position; the last good one stands
        with self.lock:
            self.progress_value = min(1.0, max(0.0, float(fraction)))
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
