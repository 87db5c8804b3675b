"""An append whose COMMIT succeeded but whose answer was lost is a success, not a lost race.

The connection failing after the server committed is simulated by a recorder that
commits the first attempt for real and then raises the error psycopg would; the
retry that follows runs against the real PostgreSQL.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError, StoredEvent

from domain.submission import BatchDraft, JobDraft, create_batch
from services.adapters import store as store_module
from services.adapters.recorder import BatchqPostgresRecorder
from services.adapters.sql import PostgresDialect
from services.adapters.store import BatchqApplication, ConflictError, EventStore

pytestmark = pytest.mark.integration


class CommitThenLoseTheAnswer(BatchqPostgresRecorder):
    """Fails the first append's connection: after its COMMIT, or (committed_first False) before it."""

    failures_left = 1
    committed_first = True
    inserted = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        connect = self.datastore.get_connection

        @contextlib.contextmanager
        def get_connection(*a: Any, **kw: Any) -> Iterator[Any]:
            CommitThenLoseTheAnswer.inserted = False
            with connect(*a, **kw) as conn:
                yield conn
            if CommitThenLoseTheAnswer.inserted and CommitThenLoseTheAnswer.failures_left:
                CommitThenLoseTheAnswer.failures_left -= 1
                raise OperationalError("server closed the connection unexpectedly")  # the COMMIT went through

        self.datastore.get_connection = get_connection  # type: ignore[method-assign]

    def _insert_stored_events(self, cursor: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        if CommitThenLoseTheAnswer.failures_left and not CommitThenLoseTheAnswer.committed_first:
            CommitThenLoseTheAnswer.failures_left -= 1
            raise OperationalError("server closed the connection unexpectedly")  # nothing stored
        super()._insert_stored_events(cursor, stored_events, **kwargs)
        CommitThenLoseTheAnswer.inserted = True


def _store(database_url: str) -> EventStore:
    EventStore.postgres(database_url, create_tables=True).migrate()
    env = store_module._postgres_env(database_url, "public")
    env["APPLICATION_RECORDER_TOPIC"] = f"{__name__}:CommitThenLoseTheAnswer"
    app = BatchqApplication(env=env)
    return EventStore(app, PostgresDialect(app.recorder, database_url))


def _new_batch(batch_id: uuid.UUID | None = None) -> Any:
    draft = BatchDraft(
        batch_id=batch_id or uuid.uuid4(),
        tenant="acme",
        user_id="depositor",
        trace_id="t",
        depositor_email="d@example.org",
        fingerprint="sha256:x",
        jobs=[JobDraft(job_uuid=uuid.uuid4())],
    )
    return create_batch(draft, {}, datetime.now(UTC))


def test_an_append_committed_before_its_connection_failed_is_reported_stored(database_url: str) -> None:
    store = _store(database_url)
    CommitThenLoseTheAnswer.failures_left, CommitThenLoseTheAnswer.committed_first = 1, True
    new = _new_batch()
    recorded = store.save(*new.aggregates())
    assert [r.position for r in recorded] == list(range(1, len(recorded) + 1))
    assert store.max_position() == len(recorded)  # stored once, not twice


def test_a_real_conflict_after_a_retry_is_still_a_conflict(database_url: str) -> None:
    store = _store(database_url)
    CommitThenLoseTheAnswer.failures_left = 0
    new = _new_batch()
    store.save(*new.aggregates())
    rival = _new_batch(new.batch.id)  # the same aggregate and version, other content
    CommitThenLoseTheAnswer.failures_left, CommitThenLoseTheAnswer.committed_first = 1, False
    with pytest.raises(ConflictError):
        store.save(rival.batch)
