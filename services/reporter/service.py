"""The reporter process: hears that a batch awaits a report, and sends it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from contracts import names
from contracts.envelope import EventHeading
from contracts.errors import ContractError
from services.adapters.authentic import relay_principal, unless_from_relay
from services.adapters.bus import Bus, Delivery, Verdict
from services.adapters.logging import get_logger
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.reporter.application import Reporter
from services.reporter.mailer import Mailer

log = get_logger("batchq.reporter")

MAX_MAIL_RETRY_SECONDS = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReporterService:
    def __init__(self, settings: Settings, store: EventStore, bus: Bus, mailer: Mailer) -> None:
        self.bus = bus
        self.relay_principal = relay_principal(settings)
        self.app = Reporter(store, mailer, settings.mail_from, utcnow)

    async def start(self) -> None:
        await self.bus.connect()
        for batch_id in await asyncio.to_thread(self.app.owed):
            await self._report_until_sent(batch_id)
        await self.bus.consume(names.REPORTER_EVENTS_QUEUE, self.on_event, prefetch=4)
        log.info("reporter_started")

    async def stop(self) -> None:
        await self.bus.stop_consuming(names.REPORTER_EVENTS_QUEUE)
        await self.bus.close()
        log.info("reporter_stopped")

    async def on_event(self, delivery: Delivery) -> Verdict:
        if forged := unless_from_relay(delivery, self.relay_principal):
            return forged
        try:
            batch_id = EventHeading.from_json(delivery.body).aggregate_id
        except ContractError as error:
            return Verdict.reject(f"{error.code}: {error.reason}")
        await self._report_until_sent(batch_id)
        return Verdict.ack()

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
            except OSError as error:
                log.warning("mail_not_sent", batch_id=str(batch_id), reason=str(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(MAX_MAIL_RETRY_SECONDS, delay * 2)
