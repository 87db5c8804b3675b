"""The key table (see `keyring`) in PostgreSQL and in the embedded SQLite store.

Each call is its own short transaction, committed before the events that use
the key are appended: a key never is younger than the data sealed under it. An
append that fails after its key was made leaves an unused key, which is harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from services.adapters.keyring import KeyRow

KEYS_TABLE = "batchq_personal_keys"
SECRETS_TABLE = "batchq_secrets"

SQLITE_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {SECRETS_TABLE} (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (subject_ref TEXT NOT NULL, scope TEXT NOT NULL, user_id TEXT,"
    " key BLOB, created_at TEXT NOT NULL, shredded_at TEXT, PRIMARY KEY (subject_ref, scope))",
)


def _row(found: list[Any]) -> KeyRow | None:
    if not found:
        return None
    user_id, key = found[0]
    return KeyRow(user_id, bytes(key) if key is not None else None)


class PostgresKeyTable:
    def __init__(self, datastore: Any, schema: str) -> None:
        self.datastore = datastore
        self.keys = sql.Identifier(schema, KEYS_TABLE)
        self.secrets = sql.Identifier(schema, SECRETS_TABLE)

    def _run(self, query: sql.Composable, params: tuple[Any, ...]) -> list[Any]:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(query, params)
            return [tuple(r.values()) for r in cursor.fetchall()] if cursor.description else []

    def secret(self, name: str, fresh: bytes) -> bytes:
        self._run(
            sql.SQL("INSERT INTO {} (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING").format(self.secrets),
            (name, fresh),
        )
        [(value,)] = self._run(sql.SQL("SELECT value FROM {} WHERE name = %s").format(self.secrets), (name,))
        return bytes(value)

    def fetch(self, ref: str, scope: UUID) -> KeyRow | None:
        query = sql.SQL("SELECT user_id, key FROM {} WHERE subject_ref = %s AND scope = %s").format(self.keys)
        return _row(self._run(query, (ref, scope)))

    def create(self, ref: str, scope: UUID, user_id: str, key: bytes, now: datetime) -> KeyRow:
        self._run(
            sql.SQL(
                "INSERT INTO {} (subject_ref, scope, user_id, key, created_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (subject_ref, scope) DO NOTHING"
            ).format(self.keys),
            (ref, scope, user_id, key, now),
        )
        found = self.fetch(ref, scope)
        assert found is not None  # inserted now, or by a racing writer first
        return found

    def shred(self, ref: str, scope: UUID | None, now: datetime) -> int:
        where = sql.SQL("subject_ref = %s AND key IS NOT NULL") + (
            sql.SQL(" AND scope = %s") if scope is not None else sql.SQL("")
        )
        params = (now, ref, scope) if scope is not None else (now, ref)
        query = sql.SQL("UPDATE {} SET key = NULL, user_id = NULL, shredded_at = %s WHERE {} RETURNING scope")
        return len(self._run(query.format(self.keys, where), params))


class SqliteKeyTable:
    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore

    def create_tables(self) -> None:
        for statement in SQLITE_SCHEMA:
            self._run(statement, ())

    def _run(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(query, params)
            return [tuple(r) for r in cursor.fetchall()]

    def secret(self, name: str, fresh: bytes) -> bytes:
        insert = f"INSERT INTO {SECRETS_TABLE} (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"
        self._run(insert, (name, fresh))
        [(value,)] = self._run(f"SELECT value FROM {SECRETS_TABLE} WHERE name = ?", (name,))
        return bytes(value)

    def fetch(self, ref: str, scope: UUID) -> KeyRow | None:
        query = f"SELECT user_id, key FROM {KEYS_TABLE} WHERE subject_ref = ? AND scope = ?"
        return _row(self._run(query, (ref, scope.hex)))

    def create(self, ref: str, scope: UUID, user_id: str, key: bytes, now: datetime) -> KeyRow:
        self._run(
            f"INSERT INTO {KEYS_TABLE} (subject_ref, scope, user_id, key, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (subject_ref, scope) DO NOTHING",
            (ref, scope.hex, user_id, key, now.isoformat()),
        )
        found = self.fetch(ref, scope)
        assert found is not None
        return found

    def shred(self, ref: str, scope: UUID | None, now: datetime) -> int:
        query = (
            f"UPDATE {KEYS_TABLE} SET key = NULL, user_id = NULL, shredded_at = ?"
            " WHERE subject_ref = ? AND key IS NOT NULL"
        )
        params: tuple[Any, ...] = (now.isoformat(), ref)
        if scope is not None:
            query, params = query + " AND scope = ?", (*params, scope.hex)
        return len(self._run(query + " RETURNING scope", params))
