"""Personal fields sealed inside stored events, and unsealed when read (crypto-shredding).

A depositor's event is stored with its personal fields (`domain.personal`)
taken out and its `user_id` replaced by one record:

    "_personal": {"ref": subject_ref, "scope": batch id, "fields": [...], "sealed": base64(nonce + AES-GCM)}

`fields` names what was taken (so reading never depends on today's
classification); `sealed` is absent when nothing non-empty was taken, which
spares most events (a `JobStarted`) any cipher work, or when the key was already
shredded at writing. Reading puts the fields back, or `"[erased]"` in their
place once the key is gone; the subject's `user_id` comes from the key row. The
ciphertext is bound to its subject and scope (associated data), so it cannot be
moved to another's event. Events stored before sealing existed have no record
and read as they are.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag

from domain.personal import ERASED, data_subject, personal_fields
from services.adapters.keyring import Entry, KeyRing
from services.adapters.logging import get_logger

log = get_logger("batchq.sealing")

SEALED = "_personal"
NONCE_BYTES = 12

Encode = Callable[[Any], bytes]
Decode = Callable[[bytes], Any]


def aggregate_of(event_class: type) -> str:
    """`job`, `batch`, …: the domain package an event class belongs to (`domain.<aggregate>…`)."""
    return event_class.__module__.split(".")[1]


def _take(state: dict[str, Any], path: str) -> Any:
    """Remove and return the value at `field` or `field.part` (None if absent or empty)."""
    name, _, part = path.partition(".")
    if not part:
        value = state.get(name)
        if value in (None, "", {}, []):
            return None
        return state.pop(name)
    parent = state.get(name)
    if not isinstance(parent, dict) or parent.get(part) in (None, ""):
        return None
    state[name] = rest = dict(parent)
    return rest.pop(part)


def _put(state: dict[str, Any], path: str, value: Any) -> None:
    name, _, part = path.partition(".")
    if not part:
        state[name] = value
    elif isinstance(state.get(name), dict):
        state[name] = {**state[name], part: value}


class Sealer:
    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def seal(self, event_type: str, aggregate: str, state: dict[str, Any], encode: Encode) -> dict[str, Any]:
        """The state to store: personal fields sealed under the subject's key (unchanged if it has no subject)."""
        subject = data_subject(aggregate, event_type, state)
        if subject is None:
            return state
        if subject.user_id == ERASED:  # an erased aggregate's new event: no one to make a key for
            ref, scope, entry = "", UUID(int=0), Entry(None, None)
        else:
            ref, scope, entry = self.keys.for_writing(subject)
        stored = dict(state)
        taken = {path: value for path in personal_fields(event_type) if (value := _take(stored, path)) is not None}
        if subject.is_provenance:
            del stored["user_id"]
        record: dict[str, Any] = {"ref": ref, "scope": scope.hex, "fields": sorted(taken)}
        if taken and entry.cipher is not None:
            nonce = os.urandom(NONCE_BYTES)
            sealed = entry.cipher.encrypt(nonce, encode(taken), _bound(ref, scope))
            record["sealed"] = base64.b64encode(nonce + sealed).decode()
        stored[SEALED] = record
        return stored

    def unseal(self, state: dict[str, Any], decode: Decode) -> dict[str, Any]:
        """The state as the event was made, with `"[erased]"` for what can no longer be read."""
        record = state.pop(SEALED, None)
        if record is None:
            return state
        ref, scope = record["ref"], UUID(record["scope"])
        entry = self.keys.for_reading(ref, scope) if ref else None
        if "user_id" not in state:
            state["user_id"] = entry.user_id if entry is not None and entry.user_id is not None else ERASED
        values: dict[str, Any] = {}
        if entry is not None and entry.cipher is not None and "sealed" in record:
            blob = base64.b64decode(record["sealed"])
            try:
                values = decode(entry.cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _bound(ref, scope)))
            except InvalidTag:
                log.error("personal_data_unreadable", subject_ref=ref, scope=str(scope))
        for path in record["fields"]:
            _put(state, path, values.get(path, ERASED))
        return state

    def subject_ref(self, tenant: str, user_id: str) -> str:
        return self.keys.subject_ref(tenant, user_id)


def _bound(ref: str, scope: UUID) -> bytes:
    return f"{ref}/{scope.hex}".encode()
