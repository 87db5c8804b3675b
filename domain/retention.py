"""Retention (CONTRACT v1.1, retention and erasure): when a batch's personal data must go.

A batch that asked for `tags.retention_days` keeps its personal data that long
after it ended (COMPLETED, FAILED or DELETED); then the sweep destroys the
batch's key and records `BatchPersonalDataExpired`. A batch that is reported
again (UPDATE_REPORTING) ends again later, and its retention counts from then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.batch import Batch


def expires_at(batch: Batch) -> datetime | None:
    """When the batch's personal data expires, or None: no retention asked, not ended, or already expired."""
    if batch.retention_days is None or batch.ended_at is None or batch.personal_data_expired:
        return None
    return batch.ended_at + timedelta(days=batch.retention_days)


def is_expired(batch: Batch, now: datetime) -> bool:
    moment = expires_at(batch)
    return moment is not None and moment <= now
