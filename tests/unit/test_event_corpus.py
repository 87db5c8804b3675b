"""Every event shape ever stored loads forever: the corpus (tests/corpus/events.jsonl) read by today's code.

Old shapes are upcast on read (`class_version` and `upcast_vN_vM` on the event class, the
eventsourcing library's way), never rewritten. A change to an event class that no longer
reads a stored shape fails here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from domain.base import EVENT_CLASSES, fold
from domain.job_ids import JobIds
from services.adapters.store import EventStore
from tests.corpus.generate import CORPUS, missing_types

RECORDS = [orjson.loads(line) for line in CORPUS.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    return EventStore.sqlite(tmp_path_factory.mktemp("corpus") / "store.sqlite")


def decoded(store: EventStore, record: dict[str, Any]) -> Any:
    stored = StoredEvent(
        originator_id=UUID(record["originator_id"]),
        originator_version=record["originator_version"],
        topic=record["topic"],
        state=orjson.dumps(record["state"]),
    )
    return store.app.mapper.to_domain_event(stored)


def test_the_corpus_holds_every_event_type() -> None:
    assert missing_types() == []


@pytest.mark.parametrize("record", RECORDS, ids=[f"{r['topic']}@{r['originator_version']}" for r in RECORDS])
def test_each_stored_shape_loads_as_its_class(store: EventStore, record: dict[str, Any]) -> None:
    event = decoded(store, record)

    assert type(event) is EVENT_CLASSES[record["topic"].removeprefix("batchq:")]


def test_version_1_shapes_are_upcast_on_read(store: EventStore) -> None:
    old = {r["topic"]: decoded(store, r) for r in RECORDS if "note" in r}

    assert old["batchq:JobStarted"].pool == "default"
    assert old["batchq:JobCancelled"].attempt == 0


def test_every_aggregate_of_the_corpus_replays(store: EventStore) -> None:
    histories: dict[str, list[Any]] = defaultdict(list)
    for record in RECORDS:
        # One shape per type from each era: an old version ("note"), or sealed (migration 3) by its lone events.
        if "note" not in record and "sealed" not in record:
            histories[record["originator_id"]].append(decoded(store, record))

    aggregates = {key: fold(sorted(events, key=lambda e: e.originator_version)) for key, events in histories.items()}

    statuses = {type(a).__name__: getattr(a, "status", None) for folded in aggregates.values() for a in folded.values()}
    assert {"Batch", "Job", "Item", "Queue", "AccessGrants", "Quotas", "Canary", "Checkpoint"} <= set(statuses)


def test_sealed_shapes_load_without_their_keys_as_erased(store: EventStore) -> None:
    sealed = {r["topic"]: decoded(store, r) for r in RECORDS if r.get("sealed")}

    assert sealed["batchq:BatchSubmitted"].depositor_email == "[erased]"
    assert sealed["batchq:JobStarted"].user_id == "[erased]"
    assert sealed["batchq:JobStarted"].pool == "default"  # what is in clear stays readable


def test_batch_submitted_names_its_jobs_alike_in_both_versions(store: EventStore) -> None:
    submitted = [r for r in RECORDS if r["topic"] == "batchq:BatchSubmitted" and r["originator_id"].startswith("6f1e")]
    first, newest = submitted[0], submitted[-1]
    listed, packed = decoded(store, first), decoded(store, newest)

    assert isinstance(first["state"]["job_uuids"], list)  # version 1: a list of ids
    assert newest["state"]["class_version"] == 2
    assert isinstance(listed.job_uuids, JobIds) and isinstance(packed.job_uuids, JobIds)
    assert listed.job_uuids == packed.job_uuids == [UUID(int=n) for n in (1, 2, 3)]
