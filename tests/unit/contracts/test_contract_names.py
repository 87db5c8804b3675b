"""Exchange, queue and routing-key names match CONTRACT.md."""

from __future__ import annotations

from uuid import UUID

import pytest

from contracts import names
from contracts.commands import CancelJob, RetryJob
from contracts.errors import ContractError, ErrorCode
from domain.errors import IllegalTransitionError


def test_exchanges_have_the_contract_names_and_types() -> None:
    assert names.EXCHANGE_TYPES == {
        "batchq.manifests": "direct",
        "batchq.commands": "direct",
        "batchq.events": "topic",
        "batchq.jobs": "direct",
        "batchq.rejected": "direct",
        "batchq.manifests.unroutable": "fanout",
        "batchq.commands.unroutable": "fanout",
    }
    assert names.SUBMIT_ROUTING_KEY == "submit"
    assert names.ALTERNATE_EXCHANGES == {
        "batchq.manifests": "batchq.manifests.unroutable",
        "batchq.commands": "batchq.commands.unroutable",
    }


def test_queues_are_named_batchq_service_purpose() -> None:
    assert names.DISPATCHER_MANIFESTS_QUEUE == "batchq.dispatcher.manifests"
    assert names.DISPATCHER_COMMANDS_QUEUE == "batchq.dispatcher.commands"
    assert names.DISPATCHER_EVENTS_QUEUE == "batchq.dispatcher.events"
    assert names.REPORTER_EVENTS_QUEUE == "batchq.reporter.events"
    assert names.WORKER_CONTROL_QUEUE == "batchq.worker.control"
    assert names.job_queue("default") == "batchq.jobs.default"
    assert names.job_queue(names.Pool.CANARY) == "batchq.jobs.canary"


def test_an_unknown_pool_has_no_queue() -> None:
    with pytest.raises(ValueError):
        names.job_queue("gpu")


def test_rejected_messages_go_to_the_queue_name_plus_rejected() -> None:
    assert names.rejected_queue("batchq.jobs.default") == "batchq.jobs.default.rejected"
    assert names.ERROR_HEADER == "x-batchq-error"
    with pytest.raises(ValueError):
        names.rejected_queue("batchq.jobs.default.rejected")


def test_event_routing_key_is_tenant_aggregate_event_type() -> None:
    assert names.event_routing_key("acme", "job", "JobFailed") == "acme.job.JobFailed"


@pytest.mark.parametrize(
    ("tenant", "aggregate", "event_type"),
    [("acme.eu", "job", "JobFailed"), ("*", "job", "JobFailed"), ("acme", "", "JobFailed")],
)
def test_event_routing_key_refuses_segments_that_would_change_its_meaning(
    tenant: str, aggregate: str, event_type: str
) -> None:
    with pytest.raises(ValueError):
        names.event_routing_key(tenant, aggregate, event_type)


def test_binding_keys_default_to_wildcards() -> None:
    assert names.event_binding_key(event_type="BatchReportingStarted") == "*.*.BatchReportingStarted"
    assert names.event_binding_key("acme") == "acme.*.*"


def test_a_command_is_routed_under_its_wire_name() -> None:
    assert str(RetryJob(job_uuid=UUID(int=1)).command) == "retry_job"
    assert {name.value for name in names.CommandName} == {
        "retry_job",
        "cancel_job",
        "delete_batch",
        "update_reporting",
        "pause_queue",
        "resume_queue",
        "grant_role",
        "revoke_role",
        "set_quota",
        "start_canary",
        "promote_canary",
        "abort_canary",
        "erase_depositor",
    }
    assert CancelJob.model_fields["command"].default is names.CommandName.CANCEL_JOB


def test_error_codes_are_the_contract_ones() -> None:
    assert [code.value for code in ErrorCode] == [
        "INVALID_MESSAGE",
        "UNSUPPORTED_SCHEMA_VERSION",
        "NOT_FOUND",
        "ILLEGAL_TRANSITION",
        "DUPLICATE_BATCH",
        "DUPLICATE_JOB",
        "MANIFEST_UNAVAILABLE",
        "FORBIDDEN",
        "QUOTA_EXCEEDED",
        "RETRY_LIMIT",
    ]


def test_a_domain_refusal_translates_to_its_contract_code() -> None:
    domain_error = IllegalTransitionError("job", UUID(int=1), "COMPLETED", "retry", "needs override")
    error = ContractError.from_domain(domain_error)
    assert error.code is ErrorCode.ILLEGAL_TRANSITION
    assert error.reason == domain_error.reason
