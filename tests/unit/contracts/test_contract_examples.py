"""Every JSON example of CONTRACT.md parses, copied verbatim but for placeholder ids."""

from __future__ import annotations

from uuid import UUID

from contracts.commands import Command, Reply, RetryJob
from contracts.envelope import AggregateType, EventEnvelope
from contracts.errors import ErrorCode
from contracts.manifest import JobSpec, ManifestDocument, Submission
from contracts.names import CommandName
from contracts.parsing import decode

SUBMISSION = b"""
{
  "schema_version": 1,
  "batch_id": "6f1e0c1a-4a55-4d0f-9c2e-2f7f3b1c9a10",
  "tenant": "acme",
  "user_id": "depositor-7",
  "depositor_email": "depositor@example.org",
  "trace_id": "optional, generated when absent",
  "tags": {"gdpr": true, "retention_days": 30},
  "manifest_url": "http://127.0.0.1:8000/manifest.json"
}
"""

JOB_SPEC = b"""
{
  "job_uuid": "0b6c6e2a-1f3d-4c7e-9a8b-5d4c3b2a1f00",
  "payload_url": "http://127.0.0.1:8000/payload/1",
  "handler": "checksum",
  "params": {},
  "depends_on": ["9d2f4a1e-7b3c-4e5d-8f6a-0b1c2d3e4f50"],
  "max_attempts": 3,
  "item": {"key": "release-42", "version": 2, "target": "retailer-x"}
}
"""

RETRY_JOB = (
    b'{"schema_version": 1, "command": "retry_job", '
    b'"job_uuid": "0b6c6e2a-1f3d-4c7e-9a8b-5d4c3b2a1f00", "override": false, "reason": "text"}'
)

REPLY_OK = b'{"ok": true, "result": {}}'

REPLY_REFUSED = (
    b'{"ok": false, "error": {"code": "ILLEGAL_TRANSITION", '
    b'"reason": "job 0b6c6e2a-1f3d-4c7e-9a8b-5d4c3b2a1f00 is COMPLETED; retry needs override"}}'
)

EVENT = b"""
{
  "schema_version": 1,
  "position": 1234,
  "event_id": "3c1d5e7f-9a2b-4c6d-8e0f-1a2b3c4d5e6f",
  "type": "JobFailed",
  "aggregate_type": "job",
  "aggregate_id": "0b6c6e2a-1f3d-4c7e-9a8b-5d4c3b2a1f00",
  "aggregate_version": 4,
  "occurred_at": "2026-11-22T10:00:00.123456Z",
  "tenant": "acme",
  "user_id": "depositor-7",
  "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
  "batch_id": "6f1e0c1a-4a55-4d0f-9c2e-2f7f3b1c9a10",
  "data": {}
}
"""


def test_submission_example_parses() -> None:
    submission = decode(Submission, SUBMISSION)
    assert submission.batch_id == UUID("6f1e0c1a-4a55-4d0f-9c2e-2f7f3b1c9a10")
    assert submission.tenant == "acme"
    assert submission.tags.gdpr is True
    assert submission.tags.retention_days == 30
    assert str(submission.manifest_url) == "http://127.0.0.1:8000/manifest.json"
    assert submission.jobs is None


def test_job_spec_example_parses_alone_and_in_a_manifest_document() -> None:
    job = JobSpec.model_validate_json(JOB_SPEC)
    assert job.handler == "checksum"
    assert job.max_attempts == 3
    assert job.depends_on == [UUID("9d2f4a1e-7b3c-4e5d-8f6a-0b1c2d3e4f50")]
    assert job.item is not None and job.item.version == 2

    document = decode(ManifestDocument, b'{"jobs": [' + JOB_SPEC + b"]}")
    assert document.jobs == [job]


def test_only_job_uuid_is_required_and_defaults_follow_the_contract() -> None:
    job = JobSpec.model_validate_json(b'{"job_uuid": "0b6c6e2a-1f3d-4c7e-9a8b-5d4c3b2a1f00"}')
    assert job.handler == "noop"
    assert job.max_attempts == 1
    assert job.params == {}
    assert job.depends_on == []
    assert job.payload_url is None and job.item is None


def test_submission_with_inline_jobs_parses() -> None:
    body = SUBMISSION.replace(b'"manifest_url": "http://127.0.0.1:8000/manifest.json"', b'"jobs": [' + JOB_SPEC + b"]")
    submission = decode(Submission, body)
    assert submission.manifest_url is None
    assert submission.jobs is not None and len(submission.jobs) == 1


def test_retry_job_example_parses_as_a_command() -> None:
    command = decode(Command, RETRY_JOB)
    assert isinstance(command, RetryJob)
    assert command.command is CommandName.RETRY_JOB
    assert command.override is False
    assert command.reason == "text"


def test_reply_examples_parse() -> None:
    # The contract abbreviates replies; ours also carry schema_version (see below).
    ok = Reply.model_validate_json(REPLY_OK)
    assert ok.ok and ok.result == {} and ok.error is None
    refused = Reply.model_validate_json(REPLY_REFUSED)
    assert refused.error is not None
    assert refused.error.code is ErrorCode.ILLEGAL_TRANSITION
    assert "retry needs override" in refused.error.reason


def test_replies_on_the_wire_carry_schema_version_and_decode() -> None:
    body = Reply.failure(ErrorCode.NOT_FOUND, "no job 0b6c6e2a").to_json()
    assert decode(Reply, body) == Reply.failure(ErrorCode.NOT_FOUND, "no job 0b6c6e2a")
    assert b'"schema_version":1' in body
    assert b'"result"' not in body


def test_success_reply_has_ok_and_result_only() -> None:
    body = Reply.success({"duplicate": True}).to_json()
    assert body == b'{"schema_version":1,"ok":true,"result":{"duplicate":true}}'


def test_event_envelope_example_parses() -> None:
    envelope = EventEnvelope.from_json(EVENT)
    assert envelope.position == 1234
    assert envelope.aggregate_type is AggregateType.JOB
    assert envelope.occurred_at.microsecond == 123456
    assert envelope.routing_key == "acme.job.JobFailed"
