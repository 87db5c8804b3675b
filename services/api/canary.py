"""The canary in progress, as the dashboard's banner shows it: read from the store now and then, not per page.

Pages render synchronously, and a store read must not run on the event loop;
so, like the alerts, the stage is refreshed in the background (every
`BATCHQ_ALERT_INTERVAL_SECONDS`) and pages show the last one read.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg

from domain.canary import CANARY_ID, Canary
from services.adapters.envelopes import occurred_at
from services.adapters.logging import get_logger
from services.adapters.store import EventStore
from services.api.context import Api

log = get_logger("batchq.api")


def canary_shown(store: EventStore) -> dict[str, Any] | None:
    """The stage in progress (percent, tenant, since), or None when no canary runs."""
    canary: Canary | None = store.get_many([CANARY_ID]).get(CANARY_ID)
    if canary is None or canary.stage is None:
        return None
    stage = canary.stage
    since = occurred_at(stage.started_at) if stage.started_at else None
    return {"percent": stage.percent, "tenant": stage.tenant, "since": since}


async def watch(api: Api, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            api.canary = await asyncio.to_thread(canary_shown, api.store)
        except (psycopg.Error, OSError) as error:
            log.warning("canary_not_read", reason=" ".join(str(error).split()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), api.settings.alerts.interval_seconds)
