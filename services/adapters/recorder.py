"""The PostgreSQL recorder batchq uses: the library's, with appends outside pipeline mode.

`eventsourcing` sends each append in psycopg pipeline mode. With one large append
(a 10,000-job batch is one append of 10,002 events, several MB in one statement)
we saw the client wait for results while the server waited for input, for ever.
A plain transaction costs a few more round trips per append and cannot hang that
way; appends are grouped, so the round trips do not show. The order of
statements, the table lock and the returned positions are the library's own.

The rows go as four arrays in binary (ids, versions, topics, states) instead of
the library's one array of a composite type, which psycopg writes as text in
Python, escaping every state's bytes: that was the largest part of a worker's
CPU per job (psycopg's composite and list dumpers, about 0.08 of 0.22 ms).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, InternalError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

APPEND_ATTEMPTS = 10
RETRY_WAIT_SECONDS = 0.2


def connection_lost(error: Exception) -> bool:
    """Whether an append failed because its session was lost, so that trying it again is safe.

    Besides a broken connection, the server ends a session that sat idle inside a transaction
    past `idle_in_transaction_session_timeout` (SQLSTATE 25P03, an "internal" error to psycopg):
    a process paused mid-append meets it when it resumes. That transaction never committed.
    Found by the fault tests: a worker's outcome append died of it, and its jobs stayed PROCESSING.
    """
    if isinstance(error, InternalError):
        return isinstance(error.__cause__, psycopg.errors.IdleInTransactionSessionTimeout)
    return isinstance(error, (InterfaceError, OperationalError))


class BatchqPostgresRecorder(PostgresApplicationRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Append in one transaction, retrying when the connection fails.

        A failure during COMMIT is ambiguous: the append may have been stored. A
        retry of one that was then hits its own rows and looks like a lost race;
        if every event of this append is stored exactly as sent, it is ours, and
        the append succeeded (a worker must not take its stored claim for lost).
        """
        retried = False
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            try:
                return self._insert_once(stored_events, **kwargs)
            except (InterfaceError, OperationalError, InternalError) as error:
                if attempt == APPEND_ATTEMPTS or not connection_lost(error):
                    raise
                retried = True
                time.sleep(RETRY_WAIT_SECONDS)
            except IntegrityError:
                if retried and (ids := self._already_stored(stored_events)) is not None:
                    return ids
                raise
        return None  # not reached: the last attempt returns or raises

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **_: Any) -> None:
        """The library's insert (table lock, notify, rows in the given order, positions returned), in columns."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self._insert_columns_statement,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )

    @cached_property
    def _insert_columns_statement(self) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO {}.{} AS t (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
            " RETURNING notification_id"
        ).format(sql.Identifier(self.datastore.schema), sql.Identifier(self.events_table_name))

    def _insert_once(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cursor:
            self._insert_events(cursor, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(cursor, stored_events, **kwargs)  # takes the table lock
            ids = self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)
            self._check_unchanged(cursor, kwargs.get("unchanged") or {})
            return ids

    def _already_stored(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The positions of these events if every one is stored with the same topic and state, else None."""
        keys = [(e.originator_id, e.originator_version) for e in stored_events]
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            query = sql.SQL(
                "SELECT originator_id, originator_version, topic, state, notification_id FROM {}"
                " WHERE (originator_id, originator_version) IN (SELECT * FROM unnest(%s::uuid[], %s::int[]))"
            ).format(sql.Identifier(self.datastore.schema, self.events_table_name))
            cursor.execute(query, ([k[0] for k in keys], [k[1] for k in keys]))
            found = {(row["originator_id"], row["originator_version"]): row for row in cursor.fetchall()}
        ids = []
        for event, key in zip(stored_events, keys, strict=True):
            row = found.get(key)
            if row is None or row["topic"] != event.topic or bytes(row["state"]) != bytes(event.state):
                return None
            ids.append(int(row["notification_id"]))
        return ids

    def _check_unchanged(self, cursor: Any, unchanged: dict[UUID, int]) -> None:
        """Refuse the append if another aggregate moved past the version the caller decided on.

        Checked under the table lock every append takes, so no event of those
        aggregates can commit between this check and ours: a job claimed while the
        queue was running is never recorded after a pause.
        """
        query = sql.SQL("SELECT max(originator_version) AS v FROM {} WHERE originator_id = %s").format(
            sql.Identifier(self.datastore.schema, self.events_table_name)
        )
        for aggregate_id, version in unchanged.items():
            cursor.execute(query, (aggregate_id,))
            current = cursor.fetchone()["v"] or 0
            if current != version:
                raise IntegrityError(f"{aggregate_id} is at version {current}, not {version}")
