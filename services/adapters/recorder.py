"""The PostgreSQL recorder batchq uses: the library's, with appends outside pipeline mode.

`eventsourcing` sends each append in psycopg pipeline mode. With one large append
(a 10,000-job batch is one append of 10,002 events, several MB in one statement)
we saw the client wait for results while the server waited for input, for ever.
A plain transaction costs a few more round trips per append and cannot hang that
way; appends are grouped, so the round trips do not show. The order of
statements, the table lock and the returned positions are the library's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import sql


class BatchqPostgresRecorder(PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cursor:
            self._insert_events(cursor, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(cursor, stored_events, **kwargs)  # takes the table lock
            ids = self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)
            self._check_unchanged(cursor, kwargs.get("unchanged") or {})
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
