"""The event store: every batchq aggregate in one `eventsourcing` application.

PostgreSQL in production, SQLite in the embedded mode; both behind the same
methods. Tables are created by `migrate()` only (one explicit step, never raced
by services at start-up). Every append is optimistic: an event at a version that
already exists raises `ConflictError` and nothing of that append is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Mapper, Notification, Transcoder

from domain.access import ACCESS_ID, first_operator
from domain.base import fold
from domain.errors import NotFoundError, UnrepresentableError
from domain.registry import AGGREGATE_MODULES
from services.adapters.addresses import redact
from services.adapters.event_log import log_appended
from services.adapters.keyring import KeyRing, Unattached
from services.adapters.migrator import MIGRATED_BY_CODE, Migrator
from services.adapters.migrator import NotMigratedError as NotMigratedError  # raised at start-up: importable here
from services.adapters.sealing import Sealer
from services.adapters.sealing_mapper import SealingMapper
from services.adapters.setup_errors import SetupError
from services.adapters.sql import Dialect, PostgresDialect, SqliteDialect
from services.adapters.transcodings import register_batchq_transcodings

APPLICATION_NAME = "batchq"


# Every stored event's topic must resolve in any process that reads the store.
READABLE_AGGREGATES = AGGREGATE_MODULES

class StoreError(Exception):
    """Base of the store's errors."""


class ConflictError(StoreError):
    """Some aggregate in the append changed since it was loaded (or already exists)."""


class UnencodableEventError(StoreError, UnrepresentableError):
    """An event holding a value that is not strict JSON (a NaN, an infinity): nothing of the append is stored.

    The edges refuse such input first, naming the field; this is the last line,
    so that no stored event can ever be one a strict reader cannot read back.
    """

    def __init__(self, cause: object) -> None:
        UnrepresentableError.__init__(self, f"an event cannot be stored as strict JSON: {cause}")


class ServerUnavailableError(StoreError, SetupError):
    """A server that batchq needs does not answer: names the variable and the address."""

    def __init__(self, variable: str, address: str, cause: object) -> None:
        super().__init__(f"cannot reach {address} ({variable}): {cause}")


class SchemaNameError(StoreError, SetupError):
    """`BATCHQ_DATABASE_SCHEMA` is not a name the `eventsourcing` library can use unquoted."""

    def __init__(self, schema: str) -> None:
        super().__init__(
            f"BATCHQ_DATABASE_SCHEMA={schema!r} is not a plain PostgreSQL name: use lower-case letters, digits and _"
        )


# The library looks up its own types by the unquoted name "schema.type", so only
# names that need no quoting work; batchq itself quotes every identifier it builds.
PLAIN_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Recorded:
    """One stored event and its place in the store's total order."""

    position: int
    event: DomainEvent


class BatchqApplication(Application):
    name = APPLICATION_NAME
    sealer: Sealer

    def construct_mapper(self) -> Mapper[UUID]:
        """Events with their personal fields sealed per depositor (the key table is attached by `EventStore`)."""
        self.sealer = Sealer(KeyRing(Unattached(), lambda: datetime.now(UTC)))
        return SealingMapper(self.construct_transcoder(), self.sealer)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_batchq_transcodings(transcoder)

    def construct_transcoder(self) -> Transcoder:
        transcoder = super().construct_transcoder()
        if isinstance(transcoder, JSONTranscoder):
            # The library's encoder writes NaN and Infinity, which are not JSON (RFC 8259).
            transcoder.encoder = json.JSONEncoder(
                default=transcoder._encode_obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
        return transcoder


def _postgres_env(url: str, schema: str) -> dict[str, str]:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname", "batchq")),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", "5432")),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "n",  # the schema is batchq's migrations' (services/adapters/migrations/)
        "APPLICATION_RECORDER_TOPIC": "services.adapters.recorder:BatchqPostgresRecorder",
    }


def check_database(url: str, variable: str = "BATCHQ_DATABASE_URL") -> None:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as error:
        one_line = " ".join(str(error).split())
        raise ServerUnavailableError(variable, redact(url), one_line) from None


class EventStore:
    def __init__(self, app: BatchqApplication, dialect: Dialect) -> None:
        self.app = app
        self.dialect = dialect
        self.sealer = app.sealer
        self.keys = app.sealer.keys
        self.keys.table = dialect.key_table()

    @classmethod
    def postgres(cls, url: str, *, schema: str = "public", create_tables: bool = False) -> EventStore:
        """The store in `schema`, which must be at this code's schema version (migrated first when `create_tables`).

        Checking the version here turns a service or read on an unmigrated (or newer)
        database into one `NotMigratedError` at start-up instead of an error mid-query.
        """
        if not PLAIN_SCHEMA_NAME.fullmatch(schema):
            raise SchemaNameError(schema)
        check_database(url)
        migrator = Migrator(url, schema)
        if create_tables:
            migrator.run(principal=MIGRATED_BY_CODE)
        migrator.require_current(redact(url))
        app = BatchqApplication(env=_postgres_env(url, schema))
        return cls(app, PostgresDialect(app.recorder, url))

    @classmethod
    def from_url(cls, url: str, schema: str = "public") -> EventStore:
        """PostgreSQL for a libpq URL (its tables in `schema`); an embedded store for `sqlite:///path`."""
        if url.startswith("sqlite:///"):
            return cls.sqlite(Path(url.removeprefix("sqlite:///")))
        return cls.postgres(url, schema=schema)

    @classmethod
    def sqlite(cls, path: Path) -> EventStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
        app = BatchqApplication(env=env)
        store = cls(app, SqliteDialect(app.recorder))
        store.migrate()
        return store

    def migrate(self) -> None:
        """Bring the tables to this code's version (idempotent); on PostgreSQL, `batchq migrate` is the way."""
        self.dialect.create_tables()

    def ensure_first_operator(self, principal: str, now: datetime) -> bool:
        """Make `principal` the operator of an installation that has none yet; True if it did."""
        access = first_operator(self.get_many([ACCESS_ID]).get(ACCESS_ID), principal, now)
        if access is None:
            return False
        self.save(access)
        return True

    def close(self) -> None:
        self.app.close()

    # -- reading ----------------------------------------------------------------

    def get(self, aggregate_id: UUID, kind: str = "aggregate") -> Any:
        found = self.get_many([aggregate_id])
        if aggregate_id not in found:
            raise NotFoundError(kind, aggregate_id)
        return found[aggregate_id]

    def get_many(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, Any]:
        """Rebuild many aggregates with one query per thousand ids."""
        to_event = self.app.mapper.to_domain_event
        return fold(to_event(stored) for stored in self.dialect.select_events(list(aggregate_ids)))

    def existing(self, aggregate_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these aggregates exist, from the primary key's index: nothing is rebuilt."""
        ids = aggregate_ids if isinstance(aggregate_ids, Sequence) else list(aggregate_ids)
        return set(self.dialect.last_event_types(ids))

    def history(self, aggregate_ids: Iterable[UUID], until: datetime | None = None) -> list[Recorded]:
        """Every event of these aggregates in store order, optionally up to a time."""
        recorded = [
            Recorded(position, self.app.mapper.to_domain_event(stored))
            for position, stored in self.dialect.select_history(list(aggregate_ids))
        ]
        if until is not None:
            recorded = [r for r in recorded if r.event.timestamp <= until]
        return recorded

    def read(self, after: int, limit: int, topics: Sequence[str] = ()) -> list[Recorded]:
        """Events after `position`, in the store's total order."""
        notifications = self.app.recorder.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )
        return [Recorded(n.id, self.app.mapper.to_domain_event(n)) for n in notifications]

    def read_stored(self, after: int, limit: int) -> list[Notification]:
        """Events after `position` as stored, not decoded (the relay turns them into envelopes)."""
        return list(self.app.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False))

    def max_position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    # -- writing ----------------------------------------------------------------

    def save(
        self, *objects: Aggregate | DomainEvent | None, unchanged: dict[UUID, int] | None = None
    ) -> list[Recorded]:
        """Append every pending event of these aggregates (or these events) atomically, with positions.

        Straight to the library's event store rather than through `Application.save`,
        which checks each object against runtime protocols: a cost per job we need not pay.
        `unchanged` names other aggregates that must still be at these versions (PostgreSQL).
        """
        events: list[DomainEvent] = []
        for obj in objects:
            if isinstance(obj, Aggregate):
                events.extend(obj.collect_events())  # type: ignore[arg-type]
            elif obj is not None:
                events.append(obj)
        if not events:
            return []
        try:
            recordings = self.app.events.put(events, unchanged=unchanged or {})
        except IntegrityError as error:
            raise ConflictError(str(error)) from None
        except ValueError as error:  # the strict encoder: see construct_transcoder
            raise UnencodableEventError(error) from None
        recorded = [Recorded(r.notification.id, r.domain_event) for r in recordings]
        log_appended(recorded, self.sealer.subject_ref)
        return recorded
