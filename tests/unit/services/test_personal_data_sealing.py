"""Personal fields are stored sealed under their depositor's key, read back whole, and read "[erased]" once shredded.

Every event type's personal fields (domain/personal.py, the contract's list) are
checked: a marker put in each must not appear in the stored bytes. A new field
that holds personal data fails tests/unit/domain/test_personal_data.py until it
is classified, and then this test checks that it is sealed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest

import domain.registry  # noqa: F401  (registers every event class)
from contracts.commands import EraseDepositor, GrantRole, SetQuota
from contracts.envelope import EventEnvelope
from domain.access import ForbiddenError, Role
from domain.base import EVENT_CLASSES
from domain.job import JobError
from domain.personal import CLASSIFIED, ERASED, data_subject
from domain.quotas import Scope
from domain.submission import JobDraft
from services.adapters.envelopes import dumps
from services.adapters.history import event_envelopes, load_batch, status_document
from services.adapters.sealing import aggregate_of
from services.dispatcher.admin import COMMAND_HANDLERS
from tests.unit.domain.builders import BATCH_ID, TENANT, USER_ID, draft, job_id
from tests.unit.services.embedded import OPERATOR, Engine

MARKER = "marker-7f3a"
SEALED_TYPES = sorted(name for name, (personal, _) in CLASSIFIED.items() if personal)


def with_markers(name: str) -> dict[str, Any]:
    """A stored state of this event type with a marker in each of its personal fields."""
    state: dict[str, Any] = {"tenant": TENANT, "user_id": USER_ID, "batch_id": BATCH_ID, "trace_id": "t"}
    if name == "QuotaSet":  # set by an operator, about a depositor
        state.update(user_id=OPERATOR, scope="user", subject=f"{MARKER}-user")
    for path in CLASSIFIED[name][0]:
        field, _, part = path.partition(".")
        if part:
            state.setdefault(field, {"code": "E1"})[part] = f"{MARKER}-{path}"
        else:
            state[field] = {"deep": f"{MARKER}-{path}"} if field in ("params", "tags", "result") else f"{MARKER}-{path}"
    return state


@pytest.mark.parametrize("name", SEALED_TYPES)
def test_every_personal_field_of_each_event_type_is_stored_sealed(engine: Engine, name: str) -> None:
    state = with_markers(name)
    aggregate = aggregate_of(EVENT_CLASSES[name])
    assert data_subject(aggregate, name, state) is not None, f"{name} holds personal data but has no data subject"

    stored = engine.store.sealer.seal(name, aggregate, dict(state), orjson.dumps)
    raw = orjson.dumps(stored)

    assert MARKER.encode() not in raw
    assert USER_ID.encode() not in raw
    assert engine.store.sealer.unseal(orjson.loads(raw), orjson.loads) == orjson.loads(orjson.dumps(state))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path)


def submitted_with_personal_data(engine: Engine) -> UUID:
    jobs = [
        JobDraft(job_uuid=job_id(1), params={"secret": MARKER}, payload_url=f"http://x/{MARKER}"),
        JobDraft(job_uuid=job_id(2), item={"key": f"{MARKER}-item", "version": 1, "target": "shop"}),
    ]
    engine.submit(draft(jobs))
    engine.run(job_id(1), error=JobError("E42", f"failed on {MARKER}", f"Traceback {MARKER}"))
    return BATCH_ID


def stored_bytes(folder: Path) -> bytes:
    with sqlite3.connect(folder / "store.sqlite") as conn:
        return b"".join(bytes(row[0]) for row in conn.execute("SELECT state FROM stored_events"))


def test_a_batch_is_stored_without_its_personal_data_in_clear_and_read_back_whole(
    engine: Engine, tmp_path: Path
) -> None:
    batch_id = submitted_with_personal_data(engine)

    raw = stored_bytes(tmp_path)
    batch, jobs = load_batch(engine.store, batch_id)

    assert MARKER.encode() not in raw and b"depositor@example.org" not in raw and USER_ID.encode() not in raw
    assert (batch.user_id, batch.depositor_email) == (USER_ID, "depositor@example.org")
    assert jobs[job_id(1)].params == {"secret": MARKER}
    assert jobs[job_id(1)].error == JobError("E42", f"failed on {MARKER}", f"Traceback {MARKER}")


def test_erasing_a_depositor_leaves_ids_states_and_codes_and_shows_erased_for_the_rest(engine: Engine) -> None:
    batch_id = submitted_with_personal_data(engine)

    effects = COMMAND_HANDLERS[EraseDepositor](
        engine.app, EraseDepositor(tenant=TENANT, user_id=USER_ID, reason="asked"), OPERATOR
    )
    engine.store.keys._cache.clear()  # another process: nothing cached
    batch, jobs = load_batch(engine.store, batch_id)
    doc = status_document(batch, jobs)
    envelopes = event_envelopes(engine.store, batch_id=None, job_uuid=None, since=0)

    assert effects.result["keys_destroyed"] == 1
    assert (doc["user_id"], batch.depositor_email, batch.status.value) == (ERASED, ERASED, "PROCESSING")
    assert [j["status"] for j in doc["jobs"]] == ["FAILED", "SKIPPED"] or doc["jobs"][0]["status"] == "FAILED"
    assert doc["jobs"][0]["error"] == {"code": "E42", "reason": ERASED, "traceback": ERASED, "stage": "execution"}
    assert jobs[job_id(1)].params == ERASED and jobs[job_id(1)].payload_url == ERASED
    assert MARKER not in orjson.dumps(envelopes).decode()
    assert "DepositorErased" in [e["type"] for e in envelopes]


def test_erasing_again_destroys_nothing_more_and_is_recorded(engine: Engine) -> None:
    submitted_with_personal_data(engine)
    erase = COMMAND_HANDLERS[EraseDepositor]
    command = EraseDepositor(tenant=TENANT, user_id=USER_ID)

    first, second = erase(engine.app, command, OPERATOR), erase(engine.app, command, OPERATOR)

    assert (first.result["keys_destroyed"], second.result["keys_destroyed"]) == (1, 0)
    assert first.result["subject_ref"] == second.result["subject_ref"]
    assert USER_ID not in first.result["subject_ref"]


def test_a_late_event_of_an_erased_batch_is_stored_erased_not_under_a_new_key(engine: Engine, tmp_path: Path) -> None:
    submitted_with_personal_data(engine)
    COMMAND_HANDLERS[EraseDepositor](engine.app, EraseDepositor(tenant=TENANT, user_id=USER_ID), OPERATOR)

    job = engine.job(job_id(1))
    job.retry(OPERATOR, "again", False, engine.later(1))
    engine.store.save(job)
    engine.run(job_id(1), error=JobError("E43", f"late {MARKER}"))

    assert MARKER.encode() not in stored_bytes(tmp_path)
    assert engine.job(job_id(1)).error == JobError("E43", ERASED)


def test_only_the_erased_depositor_is_affected(engine: Engine) -> None:
    submitted_with_personal_data(engine)
    other = draft([JobDraft(job_uuid=job_id(9), params={"mine": "kept"})], batch_id=UUID(int=99))
    other = other.__class__(**{**other.__dict__, "user_id": "someone-else"})
    engine.submit(other)

    COMMAND_HANDLERS[EraseDepositor](engine.app, EraseDepositor(tenant=TENANT, user_id=USER_ID), OPERATOR)
    engine.store.keys._cache.clear()

    assert engine.job(job_id(9)).params == {"mine": "kept"}
    assert engine.store.get(UUID(int=99)).user_id == "someone-else"


def test_only_an_operator_may_erase(engine: Engine) -> None:
    submitted_with_personal_data(engine)
    COMMAND_HANDLERS[GrantRole](engine.app, GrantRole(principal="bob", role=Role.ADMIN, tenant=TENANT), OPERATOR)

    with pytest.raises(ForbiddenError, match="bob"):
        COMMAND_HANDLERS[EraseDepositor](engine.app, EraseDepositor(tenant=TENANT, user_id=USER_ID), "bob")
    assert engine.store.get(BATCH_ID).user_id == USER_ID


def test_erasing_what_spans_tenants_erases_a_depositors_quota_and_records_it_as_the_systems(engine: Engine) -> None:
    quota = SetQuota(scope=Scope.USER, subject=USER_ID, max_active_jobs=5)
    COMMAND_HANDLERS[SetQuota](engine.app, quota, OPERATOR)

    COMMAND_HANDLERS[EraseDepositor](engine.app, EraseDepositor(tenant="*", user_id=USER_ID), OPERATOR)
    engine.store.keys._cache.clear()
    envelopes = event_envelopes(engine.store, batch_id=None, job_uuid=None, since=0)

    [erased] = [e for e in envelopes if e["type"] == "DepositorErased"]
    assert EventEnvelope.model_validate(orjson.loads(dumps(erased))).tenant == "batchq"
    [quota_set] = [e for e in envelopes if e["type"] == "QuotaSet"]
    assert quota_set["data"]["subject"] == ERASED
