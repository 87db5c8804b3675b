"""Replaying every aggregate equals the read model: the history checker's look at the projection (issue 15).

The read model (`services/projections`: `batchq_rm_jobs`, `batchq_rm_batches`) is folded
from the store's log by the projector, which the fault tests do not run (the API runs
it). So the check first catches the projection up itself, with the code that
`batchq projections rebuild` uses (`Projector.catch_up`), then compares, for every batch
in the store and each of its jobs, the status (and a job's attempts) its replayed
aggregate has with its read-model row. A service may still append as the check runs
(a report after the batch completes): a difference counts only if it is still there
after the projection has caught up again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

from services.adapters.store import EventStore
from services.projections.projector import Projector

Fields = Mapping[str, Any]  # what one aggregate says: its status, and a job's attempts
LOOKS = 3
SETTLE_SECONDS = 1.0


def differences(replayed: Mapping[str, Fields], projected: Mapping[str, Fields]) -> list[str]:
    """Each aggregate whose row is missing or says otherwise than its replay, and each row with no aggregate."""
    found = []
    for aggregate_id, fields in replayed.items():
        row = projected.get(aggregate_id)
        if row is None:
            found.append(f"{aggregate_id}: no read-model row")
            continue
        found.extend(
            f"{aggregate_id}: {name} {value!r} replayed, {row.get(name)!r} in the read model"
            for name, value in fields.items()
            if row.get(name) != value
        )
    found.extend(f"{aggregate_id}: a read-model row with no aggregate" for aggregate_id in projected.keys() - replayed)
    return sorted(found)


def read_model_differences(database_url: str, schema: str = "public") -> list[str]:
    """Catch the projection up, then compare it with every replayed batch and job (see the module's docstring)."""
    store = EventStore.postgres(database_url, schema=schema)
    projector = Projector(store, database_url, schema)
    try:
        for look in range(LOOKS):
            projector.catch_up()
            found = differences(replayed(store), projected(database_url, schema))
            if not found or look == LOOKS - 1:
                return found
            time.sleep(SETTLE_SECONDS)
        return found
    finally:
        projector.close()
        store.close()


def replayed(store: EventStore) -> dict[str, Fields]:
    """Every batch in the store and each of its jobs, as replaying its events makes it."""
    found: dict[str, Fields] = {}
    position = 0
    while records := store.read(position, 5000, topics=("batchq:BatchSubmitted",)):
        for batch in store.get_many(r.event.originator_id for r in records).values():
            found[str(batch.id)] = {"status": batch.status.value}
            for job in store.get_many(batch.job_uuids).values():
                found[str(job.id)] = {"status": job.status.value, "attempts": job.attempts}
        position = records[-1].position
    return found


def projected(database_url: str, schema: str) -> dict[str, Fields]:
    """Every batch and job row of the read model, by id."""
    batches = sql.SQL("SELECT batch_id, status FROM {}").format(sql.Identifier(schema, "batchq_rm_batches"))
    jobs = sql.SQL("SELECT job_uuid, status, attempts FROM {}").format(sql.Identifier(schema, "batchq_rm_jobs"))
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        found: dict[str, Fields] = {str(i): {"status": s} for i, s in conn.execute(batches)}
        found.update({str(i): {"status": s, "attempts": a} for i, s, a in conn.execute(jobs)})
    return found
