"""The reporter process: hears that a batch awaits a report, and sends it.

It hears it by following the store's log (services/adapters/follower.py), not
through the relay: a report then waits only for the last job's outcome to be
recorded, never for the relay to catch up on every event before it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from contracts.envelope import EventHeading
from services.adapters.bus import Bus
from services.adapters.follower import LogFollower
from services.adapters.logging import get_logger
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.reporter.application import Reporter, ReportInProgressError
from services.reporter.mailer import Mailer

log = get_logger("batchq.reporter")

MAX_MAIL_RETRY_SECONDS = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


TRIGGERS = ("BatchReportingStarted", "BatchUpdateReportingRequested")


class ReporterService:
    def __init__(self, settings: Settings, store: EventStore, bus: Bus, mailer: Mailer) -> None:
        self.store = store
        self.bus = bus  # declares the topology; the reporter itself consumes nothing from it
        self.app = Reporter(store, mailer, settings.mail_from, utcnow)
        self.follower = LogFollower(store, TRIGGERS, self._heard)
        self.following = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.bus.connect()
        position = await asyncio.to_thread(self.store.max_position)  # before looking back: nothing missed
        for batch_id in await asyncio.to_thread(self.app.owed):
            await self._report_until_sent(batch_id)
        self.following.set()
        self.task = asyncio.create_task(self.follower.run(position, self.following))
        log.info("reporter_started")

    async def stop(self) -> None:
        self.following.clear()
        if self.task is not None:
            await self.task
        await self.bus.close()
        log.info("reporter_stopped")

    async def _heard(self, triggers: list[EventHeading]) -> None:
        for trigger in triggers:
            await self._report_until_sent(trigger.aggregate_id)

    async def _report_until_sent(self, batch_id: uuid.UUID) -> None:
        """Hold the trigger while the mail server is away, rather than requeue it.

        A requeue counts against the queue's delivery limit; a mail outage must not
        dead-letter a report that is owed. Nothing is recorded until the mail is sent.
        """
        delay = 1.0
        while True:
            try:
                await asyncio.to_thread(self.app.report, batch_id)
                return
            except ReportInProgressError:  # another reporter has it: done when it saves, or ours if it dies
                await asyncio.sleep(delay)
            except OSError as error:
                log.warning("mail_not_sent", batch_id=str(batch_id), reason=str(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(MAX_MAIL_RETRY_SECONDS, delay * 2)
