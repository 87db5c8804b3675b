"""An append whose session the server ended while it sat paused in its transaction is tried again.

A process paused mid-append (SIGSTOP, a long GC, a starved CPU) resumes to find that
PostgreSQL ended its session for `idle_in_transaction_session_timeout`. That transaction
never committed, so the append is made again on a new connection, not given up: a
worker that gave up its outcome append left its jobs PROCESSING (found by the fault tests).
The pause here is real: the first attempt sets a 100 ms timeout on its own session and
sleeps 0.5 s inside the transaction, so the real server ends it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from domain.submission import BatchDraft, JobDraft, create_batch
from services.adapters import store as store_module
from services.adapters.recorder import BatchqPostgresRecorder
from services.adapters.sql import PostgresDialect
from services.adapters.store import BatchqApplication, EventStore

pytestmark = pytest.mark.integration


class PausedInsideTheTransaction(BatchqPostgresRecorder):
    pauses_left = 1
    attempts = 0

    def _insert_stored_events(self, cursor: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        PausedInsideTheTransaction.attempts += 1
        if PausedInsideTheTransaction.pauses_left:
            PausedInsideTheTransaction.pauses_left -= 1
            cursor.execute("SET LOCAL idle_in_transaction_session_timeout = '100ms'")
            time.sleep(0.5)  # the server ends the session meanwhile
        super()._insert_stored_events(cursor, stored_events, **kwargs)


def test_an_append_whose_session_was_ended_while_paused_is_stored_once(database_url: str) -> None:
    EventStore.postgres(database_url, create_tables=True).migrate()
    env = store_module._postgres_env(database_url, "public")
    env["APPLICATION_RECORDER_TOPIC"] = f"{__name__}:PausedInsideTheTransaction"
    app = BatchqApplication(env=env)
    store = EventStore(app, PostgresDialect(app.recorder, database_url))
    draft = BatchDraft(uuid.uuid4(), "acme", "depositor", "t", "d@example.org", "sha256:x", [JobDraft(uuid.uuid4())])
    new = create_batch(draft, {}, datetime.now(UTC))

    recorded = store.save(*new.aggregates())

    assert PausedInsideTheTransaction.attempts == 2
    assert [r.position for r in recorded] == list(range(1, len(recorded) + 1))
    assert store.max_position() == len(recorded)
