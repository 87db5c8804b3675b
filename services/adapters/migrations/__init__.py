"""batchq's schema versions, oldest first: each one a `Migration` with its rollback.

A new version is a new module here appended to `MIGRATIONS`, never an edit of
an applied one: databases in the field are at every version ever released.
"""

from __future__ import annotations

from services.adapters.migrations import v0001_store, v0002_read_model, v0003_personal_keys
from services.adapters.migrations.model import Migration

MIGRATIONS: tuple[Migration, ...] = (
    v0001_store.MIGRATION,
    v0002_read_model.MIGRATION,
    v0003_personal_keys.MIGRATION,
)

__all__ = ["MIGRATIONS", "Migration"]
