"""Malformed messages are refused with a code and a reason that names the field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from contracts.commands import CancelJob, Command, Reply
from contracts.errors import ContractError, ErrorCode
from contracts.manifest import ManifestDocument, Submission
from contracts.parsing import SCHEMA_VERSION, decode

JOB_UUID = "0b6c6e2a-1f3d-4c7e-9a8b-5d4c3b2a1f00"


def submission(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "batch_id": "6f1e0c1a-4a55-4d0f-9c2e-2f7f3b1c9a10",
        "tenant": "acme",
        "user_id": "depositor-7",
        "depositor_email": "depositor@example.org",
        "jobs": [{"job_uuid": JOB_UUID}],
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


def refusal(target: Any, body: dict[str, Any] | bytes) -> ContractError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(ContractError) as caught:
        decode(target, raw)
    return caught.value


def test_schema_version_is_defined_once_as_one() -> None:
    assert SCHEMA_VERSION == 1


@pytest.mark.parametrize("body", [b"not json", b"", b"[1, 2]", b'"text"', b"null", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_invalid(body: bytes) -> None:
    error = refusal(Submission, body)
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.reason == "body is not a JSON object"


@pytest.mark.parametrize("version", [2, 0, "1", 1.0, True, None])
def test_unknown_schema_version_is_refused_not_guessed(version: object) -> None:
    # Even a body that is otherwise garbage is judged on its version first.
    error = refusal(Command, {"schema_version": version, "command": "launch_rockets"})
    assert error.code is ErrorCode.UNSUPPORTED_SCHEMA_VERSION
    assert "schema_version" in error.reason


@pytest.mark.parametrize("version", [2, 0, "1", 1.0, True, None])
def test_a_submission_of_another_version_is_refused_before_its_fields_are_judged(
    version: object,
) -> None:
    error = refusal(Submission, submission(schema_version=version, tenant="Not A Tenant"))
    assert error.code is ErrorCode.UNSUPPORTED_SCHEMA_VERSION
    assert "this service reads schema_version 1" in error.reason


def test_missing_schema_version_is_refused_not_guessed() -> None:
    error = refusal(Submission, submission(schema_version=...))
    assert error.code is ErrorCode.UNSUPPORTED_SCHEMA_VERSION
    assert "missing" in error.reason


def test_a_manifest_document_may_omit_the_version_but_not_carry_another() -> None:
    assert decode(ManifestDocument, b'{"jobs": []}').jobs == []
    error = refusal(ManifestDocument, {"schema_version": 2, "jobs": []})
    assert error.code is ErrorCode.UNSUPPORTED_SCHEMA_VERSION


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"batch_id": "not-a-uuid"}, "batch_id: Input should be a valid UUID"),
        ({"jobs": [{"job_uuid": "0b6c"}]}, "jobs.0.job_uuid: Input should be a valid UUID"),
        ({"tenant": "Acme"}, "tenant: String should match pattern"),
        ({"tenant": "acme.eu"}, "tenant: String should match pattern"),
        ({"tenant": "acme\n"}, "tenant: String should match pattern"),
        ({"user_id": "-depositor"}, "user_id: String should match pattern"),
        ({"depositor_email": "two@at@example.org"}, "depositor_email:"),
        ({"depositor_email": "depositor @example.org"}, "depositor_email:"),
        ({"priority": 5}, "priority: Extra inputs are not permitted"),
        ({"jobs": [{"job_uuid": JOB_UUID, "retries": 3}]}, "jobs.0.retries: Extra inputs"),
        ({"jobs": [{"job_uuid": JOB_UUID, "max_attempts": 0}]}, "jobs.0.max_attempts:"),
        ({"jobs": [{"job_uuid": JOB_UUID, "max_attempts": 101}]}, "jobs.0.max_attempts:"),
        (
            {"jobs": [{"job_uuid": JOB_UUID, "payload_url": "ftp://host/x"}]},
            "jobs.0.payload_url: URL scheme should be 'http' or 'https'",
        ),
        ({"jobs": [{"job_uuid": JOB_UUID, "depends_on": ["x"]}]}, "jobs.0.depends_on.0:"),
        ({"jobs": [{"job_uuid": JOB_UUID, "item": {"key": "k"}}]}, "jobs.0.item.version:"),
        ({"tags": {"gdpr": "maybe"}}, "tags.gdpr:"),
        ({"tags": {"retention_days": -1}}, "tags.retention_days:"),
    ],
)
def test_a_malformed_submission_is_invalid_and_names_the_field(changes: dict[str, Any], named: str) -> None:
    error = refusal(Submission, submission(**changes))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert named in error.reason


def test_a_submission_with_both_manifest_url_and_jobs_is_invalid() -> None:
    error = refusal(Submission, submission(manifest_url="http://127.0.0.1:8000/m.json"))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert "exactly one of manifest_url and jobs" in error.reason
    assert "both" in error.reason


def test_a_submission_with_neither_manifest_url_nor_jobs_is_invalid() -> None:
    error = refusal(Submission, submission(jobs=...))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert "exactly one of manifest_url and jobs" in error.reason
    assert "neither" in error.reason


def test_a_job_uuid_twice_in_one_submission_is_invalid_and_named() -> None:
    error = refusal(Submission, submission(jobs=[{"job_uuid": JOB_UUID}, {"job_uuid": JOB_UUID}]))
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.reason == f"jobs: job_uuid {JOB_UUID} appears more than once"


def test_a_job_uuid_twice_in_a_manifest_document_is_invalid() -> None:
    error = refusal(ManifestDocument, {"jobs": [{"job_uuid": JOB_UUID}, {"job_uuid": JOB_UUID}]})
    assert JOB_UUID in error.reason


def test_an_unknown_command_is_invalid_and_names_the_command_field() -> None:
    error = refusal(Command, {"schema_version": 1, "command": "launch_rockets"})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.reason.startswith('command: unknown command "launch_rockets"; expected one of')
    assert "retry_job" in error.reason


def test_a_command_without_its_name_is_invalid() -> None:
    error = refusal(Command, {"schema_version": 1, "job_uuid": JOB_UUID})
    assert error.reason == "command: Field required"


def test_command_errors_name_the_command_field_not_the_union_branch() -> None:
    error = refusal(Command, {"schema_version": 1, "command": "cancel_job", "job_uuid": "0b6c"})
    assert error.reason.startswith("job_uuid: Input should be a valid UUID")


def test_a_command_with_an_extra_field_is_invalid() -> None:
    body = {"schema_version": 1, "command": "cancel_job", "job_uuid": JOB_UUID, "force": True}
    error = refusal(Command, body)
    assert error.reason == "force: Extra inputs are not permitted"


def test_a_body_for_another_command_does_not_decode_as_this_one() -> None:
    error = refusal(CancelJob, {"schema_version": 1, "command": "retry_job", "job_uuid": JOB_UUID})
    assert error.code is ErrorCode.INVALID_MESSAGE
    assert error.reason.startswith("command:")


def test_a_reply_with_both_result_and_error_is_invalid() -> None:
    body = {"schema_version": 1, "ok": False, "result": {}, "error": {"code": "X", "reason": ""}}
    assert refusal(Reply, body).code is ErrorCode.INVALID_MESSAGE


def test_many_errors_are_listed_up_to_a_bound() -> None:
    jobs = [{"job_uuid": f"bad-{n}"} for n in range(20)]
    error = refusal(Submission, submission(jobs=jobs))
    assert error.reason.count("Input should be a valid UUID") == 5
    assert error.reason.endswith("and 15 more errors")


def test_decode_refuses_a_target_that_is_not_a_model_or_tagged_union() -> None:
    with pytest.raises(TypeError):
        decode(dict, b'{"schema_version": 1}')
