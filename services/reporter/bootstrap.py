"""The reporter's composition root: nothing connects at import."""

from __future__ import annotations

from services.adapters.amqp import AmqpBus
from services.adapters.bus import Bus
from services.adapters.lifecycle import run_service
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.reporter.mailer import Mailer, SmtpMailer
from services.reporter.service import ReporterService


def build(
    settings: Settings, *, store: EventStore | None = None, bus: Bus | None = None, mailer: Mailer | None = None
) -> ReporterService:
    store = store or EventStore.postgres(settings.database_url, schema=settings.database_schema)
    bus = bus or AmqpBus(settings.amqp_url, queue_type=settings.queue_type)
    return ReporterService(settings, store, bus, mailer or SmtpMailer(settings.smtp_url))


def main() -> int:
    """`python -m services.reporter`, and `batchq run reporter`."""
    return run_service(build, name="reporter")
