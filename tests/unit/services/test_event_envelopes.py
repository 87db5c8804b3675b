"""An event on the wire names a batch's jobs as a list of UUID strings, whichever way it is read.

The store holds them as one hex string (`domain.job_ids`); the relay builds envelopes
from the stored JSON, `batchq events --batch` from decoded events: both must give
auditors the same list as before.
"""

from __future__ import annotations

import orjson

from contracts.envelope import EventEnvelope
from domain.submission import JobDraft
from services.adapters.envelopes import dumps
from services.adapters.history import event_envelopes
from tests.unit.domain.builders import BATCH_ID, draft, job_id
from tests.unit.services.embedded import Engine

JOBS = [job_id(n) for n in (3, 1, 2)]


def submitted(envelopes: list[dict[str, object]]) -> dict[str, object]:
    found = [orjson.loads(dumps(e)) for e in envelopes if e["type"] == "BatchSubmitted"]
    assert len(found) == 1
    return found[0]


def test_batch_submitted_lists_its_job_ids_in_manifest_order_on_both_paths(engine: Engine) -> None:
    engine.submit(draft([JobDraft(j) for j in JOBS]))

    from_stored = submitted(event_envelopes(engine.store, batch_id=None, job_uuid=None, since=0))
    from_decoded = submitted(event_envelopes(engine.store, batch_id=BATCH_ID, job_uuid=None, since=0))

    assert from_stored["data"]["job_uuids"] == [str(j) for j in JOBS]  # type: ignore[index]
    assert from_decoded == from_stored
    EventEnvelope.model_validate(from_stored)
