"""Who may command what, on the embedded store: every command has a principal, every refusal a code."""

from __future__ import annotations

import pytest

from contracts.commands import CancelJob, GrantRole, PauseQueue, RetryJob, RevokeRole, SetQuota
from contracts.errors import ContractError, ErrorCode
from domain.access import Action, Role
from domain.errors import DomainError
from domain.quotas import Scope
from domain.submission import JobDraft
from services.dispatcher.admin import COMMAND_HANDLERS
from tests.unit.domain.builders import draft, job_id
from tests.unit.services.embedded import HANDLER_ERROR, OPERATOR, Engine

J1 = job_id(1)  # a job of tenant acme (the builders' tenant)


def command(engine: Engine, message: object, principal: str | None) -> dict[str, object]:
    return COMMAND_HANDLERS[type(message)](engine.app, message, principal).result


def refused(engine: Engine, message: object, principal: str | None) -> ContractError:
    before = engine.store.max_position()
    with pytest.raises(DomainError) as refusal:
        command(engine, message, principal)
    assert engine.store.max_position() == before  # a refused command changes nothing
    return ContractError.of(refusal.value)


def grant(engine: Engine, principal: str, role: Role, tenant: str) -> None:
    command(engine, GrantRole(principal=principal, role=role, tenant=tenant), OPERATOR)


@pytest.fixture
def failed_job(engine: Engine) -> Engine:
    engine.submit(draft([JobDraft(J1), JobDraft(job_id(2))]))  # job 2 keeps the batch PROCESSING
    engine.run(J1, error=HANDLER_ERROR)
    engine.react()
    return engine


def test_a_command_without_a_principal_is_forbidden(failed_job: Engine) -> None:
    refusal = refused(failed_job, PauseQueue(), None)

    assert refusal.code is ErrorCode.FORBIDDEN
    assert "without a user_id property" in refusal.reason


def test_an_admin_of_the_tenant_may_retry_its_job(failed_job: Engine) -> None:
    grant(failed_job, "alice", Role.ADMIN, "acme")

    assert command(failed_job, RetryJob(job_uuid=J1), "alice")["status"] == "PENDING"


def test_another_tenants_job_looks_exactly_like_a_missing_one(failed_job: Engine) -> None:
    grant(failed_job, "mallory", Role.ADMIN, "globex")

    hidden = refused(failed_job, RetryJob(job_uuid=J1), "mallory")
    missing = refused(failed_job, RetryJob(job_uuid=job_id(404)), "mallory")

    assert hidden.code is missing.code is ErrorCode.NOT_FOUND
    assert hidden.reason == f"job {J1} not found"


def test_an_auditor_who_may_read_the_job_is_forbidden_to_retry_it(failed_job: Engine) -> None:
    grant(failed_job, "carol", Role.AUDITOR, "acme")

    refusal = refused(failed_job, CancelJob(job_uuid=J1), "carol")

    assert refusal.code is ErrorCode.FORBIDDEN
    assert refusal.reason == "principal carol may not cancel_job: it needs role admin for tenant acme"


def test_a_revoked_grant_allows_nothing_from_the_next_command_on(failed_job: Engine) -> None:
    grant(failed_job, "alice", Role.ADMIN, "acme")
    command(failed_job, RevokeRole(principal="alice", role=Role.ADMIN, tenant="acme"), OPERATOR)

    assert refused(failed_job, RetryJob(job_uuid=J1), "alice").code is ErrorCode.NOT_FOUND


def test_only_an_operator_grants_roles(failed_job: Engine) -> None:
    grant(failed_job, "alice", Role.ADMIN, "*")

    refusal = refused(failed_job, GrantRole(principal="alice", role=Role.OPERATOR), "alice")

    assert refusal.code is ErrorCode.FORBIDDEN
    assert "needs role operator" in refusal.reason


def test_a_producer_may_not_submit_for_another_tenant(engine: Engine) -> None:
    grant(engine, "prod", Role.PRODUCER, "globex")

    with pytest.raises(DomainError) as refusal:
        engine.app.authorize("prod", Action.SUBMIT, "acme")

    assert ContractError.of(refusal.value).code is ErrorCode.FORBIDDEN


def test_a_submission_past_a_quota_is_refused_naming_it_and_stores_nothing(engine: Engine) -> None:
    command(engine, SetQuota(scope=Scope.TENANT, subject="acme", max_active_jobs=3), OPERATOR)
    engine.submit(draft([JobDraft(job_id(1)), JobDraft(job_id(2))]))
    before = engine.store.max_position()

    with pytest.raises(DomainError) as refusal:
        engine.submit(draft([JobDraft(job_id(3)), JobDraft(job_id(4))], batch_id=job_id(100)))

    error = ContractError.of(refusal.value)
    assert error.code is ErrorCode.QUOTA_EXCEEDED
    assert error.reason == "tenant acme: max_active_jobs is 3; this submission would make it 4"
    assert engine.store.max_position() == before


def test_a_finished_job_frees_its_place_under_the_active_jobs_quota(engine: Engine) -> None:
    command(engine, SetQuota(scope=Scope.USER, subject="depositor-7", max_active_jobs=1), OPERATOR)
    engine.submit(draft([JobDraft(job_id(1))]))
    engine.run(job_id(1))
    engine.react()

    assert engine.submit(draft([JobDraft(job_id(2))], batch_id=job_id(100))).result["duplicate"] is False
