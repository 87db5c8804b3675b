"""The recorder's column-wise append stores every row as given, in order, and answers with its positions.

The rows travel as four binary arrays (`BatchqPostgresRecorder._insert_stored_events`)
instead of the library's array of a composite type; states are arbitrary bytes.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from services.adapters.store import EventStore

pytestmark = pytest.mark.integration

AWKWARD_STATES = [bytes(range(256)), b"", b'{"a": "\\\\ \\" , ( ) { }"}', b"\x00" * 3, "é 日本".encode()]


def test_rows_are_stored_as_given_in_order_with_their_positions(database_url: str) -> None:
    store = EventStore.postgres(database_url, create_tables=True)
    store.migrate()
    recorder = store.app.recorder
    first, second = uuid.uuid4(), uuid.uuid4()
    rows = [
        StoredEvent(originator_id=aggregate, originator_version=version, topic=f"t:{n}", state=state)
        for n, (aggregate, version, state) in enumerate(
            [(first, 1, AWKWARD_STATES[0]), (second, 1, AWKWARD_STATES[1]), (first, 2, AWKWARD_STATES[2]),
             (second, 2, AWKWARD_STATES[3]), (first, 3, AWKWARD_STATES[4])]
        )
    ]  # fmt: skip
    before = store.max_position()

    positions = recorder.insert_events(rows)

    assert positions == list(range(before + 1, before + 1 + len(rows)))
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM batchq_events"
            " WHERE notification_id > %s ORDER BY notification_id",
            (before,),
        ).fetchall()
    assert [(r[0], r[1], r[2], bytes(r[3])) for r in stored] == [
        (e.originator_id, e.originator_version, e.topic, e.state) for e in rows
    ]


def test_a_version_taken_refuses_the_whole_append(database_url: str) -> None:
    store = EventStore.postgres(database_url, create_tables=True)
    store.migrate()
    recorder = store.app.recorder
    aggregate = uuid.uuid4()
    recorder.insert_events([StoredEvent(originator_id=aggregate, originator_version=1, topic="t", state=b"1")])
    before = store.max_position()

    with pytest.raises(IntegrityError):
        recorder.insert_events(
            [
                StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="t", state=b"x"),
                StoredEvent(originator_id=aggregate, originator_version=1, topic="t", state=b"2"),
            ]
        )
    assert store.max_position() == before  # nothing of it
