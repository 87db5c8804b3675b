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

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry


class BatchqPostgresRecorder(PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cursor:
            self._insert_events(cursor, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(cursor, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)
