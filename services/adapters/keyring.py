"""The keys of personal data (crypto-shredding, QUEUE-022): one per data subject and batch.

Events cannot be rewritten, keys can be deleted: each depositor's personal
fields are sealed under an AES-GCM key of their own, one per batch, so that
retention can make one batch unreadable and erasure all of a depositor's. A key
row also holds the depositor's `user_id`, the one place it is kept in clear;
events and the read model carry only `subject_ref`, an HMAC of (tenant,
user_id) under a secret of the installation (`batchq_secrets`), which finds a
person's data without naming them. Shredding sets the key and the `user_id` of
its rows to NULL and keeps the row as a tombstone, so a late write to a shredded
batch is stored erased rather than under a new key.

Keys are cached per process, bounded (least recently used goes first) and for
`ttl` seconds: an erasure reaches every process within that time, and the
reporter checks the table itself before it sends.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.personal import DataSubject

NO_BATCH = UUID(int=0)  # the scope of a subject's data that belongs to no batch
KEY_BYTES = 32
CACHE_SIZE = 10_000
CACHE_SECONDS = 5.0
PEPPER = "subject_ref_hmac"


@dataclass(frozen=True)
class KeyRow:
    """A subject's key for one scope: both None once shredded."""

    user_id: str | None
    key: bytes | None


class KeyTable(Protocol):
    """The key table of one database (PostgreSQL or the embedded SQLite)."""

    def secret(self, name: str, fresh: bytes) -> bytes: ...
    def fetch(self, ref: str, scope: UUID) -> KeyRow | None: ...
    def create(self, ref: str, scope: UUID, user_id: str, key: bytes, now: datetime) -> KeyRow: ...
    def shred(self, ref: str, scope: UUID | None, now: datetime) -> int: ...


@dataclass(frozen=True)
class Entry:
    """What a process needs of a key row: the depositor's id and a cipher (None: shredded)."""

    user_id: str | None
    cipher: AESGCM | None

    @classmethod
    def of(cls, row: KeyRow) -> Entry:
        return cls(row.user_id, AESGCM(row.key) if row.key is not None else None)


class Unattached:
    """The table of a key ring whose store is not open yet (the library builds its mapper first)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the key ring has no key table yet: EventStore attaches it")


class KeyRing:
    def __init__(
        self,
        table: KeyTable | Unattached,
        clock: Callable[[], datetime],
        *,
        capacity: int = CACHE_SIZE,
        ttl: float = CACHE_SECONDS,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = cast(KeyTable, table)
        self.clock = clock
        self.capacity = capacity
        self.ttl = ttl
        self.ticks = ticks
        self._pepper: bytes | None = None
        self._refs: dict[tuple[str, str], str] = {}
        self._cache: OrderedDict[tuple[str, UUID], tuple[Entry | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    # -- pseudonyms ---------------------------------------------------------------

    def subject_ref(self, tenant: str, user_id: str) -> str:
        """The keyed hash that names a depositor in the store, the read model and the logs."""
        found = self._refs.get((tenant, user_id))
        if found is None:
            if self._pepper is None:
                self._pepper = self.table.secret(PEPPER, os.urandom(KEY_BYTES))
            message = f"{tenant}\x1f{user_id}".encode()
            found = hmac.new(self._pepper, message, hashlib.sha256).hexdigest()[:32]
            if len(self._refs) >= self.capacity:
                self._refs.clear()
            self._refs[(tenant, user_id)] = found
        return found

    # -- keys ------------------------------------------------------------------------

    def for_writing(self, subject: DataSubject) -> tuple[str, UUID, Entry]:
        """The subject's reference, scope and key for new data: created on first use, never after a shred."""
        ref, scope = self.subject_ref(subject.tenant, subject.user_id), subject.scope or NO_BATCH
        entry = self._cached(ref, scope)
        if entry is None:
            row = self.table.fetch(ref, scope) or self.table.create(
                ref, scope, subject.user_id, os.urandom(KEY_BYTES), self.clock()
            )
            entry = self._remember(ref, scope, Entry.of(row))
        return ref, scope, entry

    def for_reading(self, ref: str, scope: UUID) -> Entry | None:
        """The key of this subject and scope, or None if it never existed or was shredded."""
        entry = self._cached(ref, scope)
        if entry is None:
            row = self.table.fetch(ref, scope)
            entry = self._remember(ref, scope, Entry.of(row) if row else Entry(None, None))
        return entry if entry.cipher is not None or entry.user_id is not None else None

    def is_shredded(self, ref: str, scope: UUID) -> bool:
        """Asked of the table, not the cache: the reporter's last check before it sends.

        No row at all is a batch stored before sealing existed (migration 3): not shredded."""
        row = self.table.fetch(ref, scope)
        return row is not None and row.key is None

    def shred(self, ref: str, scope: UUID | None = None) -> int:
        """Destroy the subject's keys (all, or one batch's): how many there were."""
        destroyed = self.table.shred(ref, scope, self.clock())
        self.forget(ref, scope)
        return destroyed

    def forget(self, ref: str, scope: UUID | None = None) -> None:
        """Drop what this process cached of a subject (all, or one batch's): read afresh next time."""
        with self._lock:
            for cached in [k for k in self._cache if k[0] == ref and (scope is None or k[1] == scope)]:
                del self._cache[cached]

    def _cached(self, ref: str, scope: UUID) -> Entry | None:
        with self._lock:
            found = self._cache.get((ref, scope))
            if found is None:
                return None
            entry, stamp = found
            if self.ticks() - stamp > self.ttl:
                del self._cache[(ref, scope)]
                return None
            self._cache.move_to_end((ref, scope))
            return entry

    def _remember(self, ref: str, scope: UUID, entry: Entry) -> Entry:
        with self._lock:
            self._cache[(ref, scope)] = (entry, self.ticks())
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return entry
