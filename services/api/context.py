"""What every request handler of the API needs, built once by the composition root (service.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from services.adapters.bus import Bus
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.api.queries import ReadModel
from services.api.tokens import Tokens


class ApiError(Exception):
    """An HTTP refusal, shown as `{"error": {"code", "reason"}}`."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.status = status
        self.code = code
        self.reason = reason


@dataclass
class Api:
    settings: Settings
    store: EventStore
    read_model: ReadModel
    tokens: Tokens
    bus: Bus
    firing: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # alert, subject → details
    canary: dict[str, Any] | None = None  # the canary stage in progress (services/api/canary.py)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # ends the live streams at shutdown

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


def api_of(request: Request) -> Api:
    context: Api = request.app.state.api
    return context
