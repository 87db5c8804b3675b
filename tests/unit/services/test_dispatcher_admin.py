"""The admin commands on the embedded store: each decided by the domain, refused with its code."""

from __future__ import annotations

from typing import get_args

import pytest

from contracts.commands import (
    CancelJob,
    Command,
    DeleteBatch,
    PauseQueue,
    ResumeQueue,
    RetryJob,
    UpdateReporting,
)
from contracts.errors import ContractError, ErrorCode
from domain.errors import DomainError, NotFoundError
from domain.queue import QUEUE_ID
from domain.submission import JobDraft
from services.dispatcher.admin import COMMAND_HANDLERS
from tests.unit.domain.builders import BATCH_ID, draft, job_id
from tests.unit.services.embedded import HANDLER_ERROR, OPERATOR, Engine, dispatched

J1, J2, J3 = job_id(1), job_id(2), job_id(3)
ADMIN = OPERATOR


def command(engine: Engine, message: object) -> dict[str, object]:
    """As the service does: the use case of the message's class, by the table."""
    return COMMAND_HANDLERS[type(message)](engine.app, message, ADMIN).result


def refusal(engine: Engine, message: object) -> ContractError:
    with pytest.raises(DomainError) as refused:
        command(engine, message)
    return ContractError.of(refused.value)


def test_every_command_of_the_contract_has_a_use_case() -> None:
    [union, _] = get_args(Command)
    assert set(COMMAND_HANDLERS) == set(get_args(union))


def test_a_failed_job_retried_by_an_admin_runs_again_and_names_who_asked(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2)]))
    engine.run(J1, error=HANDLER_ERROR)
    engine.react()

    effects = COMMAND_HANDLERS[RetryJob](engine.app, RetryJob(job_uuid=J1, reason="fixed the source"), ADMIN)

    assert effects.result == {"job_uuid": str(J1), "status": "PENDING"}
    assert dispatched(effects) == [J1]
    retried = engine.store.history([J1])[-1].event
    assert (retried.requested_by, retried.reason, retried.automatic) == (ADMIN, "fixed the source", False)


def test_a_completed_job_is_retried_only_with_override(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2)]))
    engine.run(J1)
    engine.react()

    refused = refusal(engine, RetryJob(job_uuid=J1))

    assert refused.code is ErrorCode.ILLEGAL_TRANSITION
    assert "retry needs override" in refused.reason
    assert command(engine, RetryJob(job_uuid=J1, override=True))["status"] == "PENDING"


def test_cancelling_a_pending_job_cancels_what_depends_on_it(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2, depends_on=[J1]), JobDraft(J3, depends_on=[J2])]))

    result = command(engine, CancelJob(job_uuid=J1))

    assert result["cancelled_dependents"] == [str(J2), str(J3)]
    assert [engine.status(j) for j in (J1, J2, J3)] == ["CANCELLED"] * 3


def test_deleting_a_batch_cancels_its_unfinished_jobs(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1), JobDraft(J2)]))
    engine.run(J1)
    engine.react()

    result = command(engine, DeleteBatch(batch_id=BATCH_ID))

    assert result == {"batch_id": str(BATCH_ID), "status": "DELETED", "cancelled_jobs": 1}
    assert (engine.status(J1), engine.status(J2)) == ("COMPLETED", "CANCELLED")


def test_update_reporting_of_a_batch_that_is_not_failed_is_refused(engine: Engine) -> None:
    engine.submit(draft([JobDraft(J1)]))

    assert refusal(engine, UpdateReporting(batch_id=BATCH_ID)).code is ErrorCode.ILLEGAL_TRANSITION


def test_a_command_on_a_job_that_does_not_exist_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFoundError) as refused:
        command(engine, CancelJob(job_uuid=job_id(404)))

    assert ContractError.of(refused.value).code is ErrorCode.NOT_FOUND


def test_pause_then_resume_are_recorded_with_who_and_why(engine: Engine) -> None:
    assert command(engine, PauseQueue(reason="upgrade")) == {"paused": True}
    assert command(engine, ResumeQueue(reason="done")) == {"paused": False}

    paused, resumed = [r.event for r in engine.store.history([QUEUE_ID])][-2:]
    assert (paused.requested_by, paused.reason) == (ADMIN, "upgrade")
    assert (resumed.requested_by, resumed.reason) == (ADMIN, "done")
