"""Message bodies are strict JSON (RFC 8259): non-finite numbers and duplicate keys are refused, by field."""

from __future__ import annotations

import uuid

import pytest

from contracts.commands import Command
from contracts.errors import ContractError, ErrorCode
from contracts.manifest import Submission
from contracts.parsing import decode
from contracts.strict_json import strict_json_fault

FAULTS = [
    ('{"a": NaN}', "a: NaN is not a JSON number"),
    ('{"a": Infinity}', "a: Infinity is not a JSON number"),
    ('{"a": -Infinity}', "a: -Infinity is not a JSON number"),
    ('{"a": 1e400}', "a: 1e400 is not a JSON number"),
    ('{"a": {"b": [1, NaN]}}', "a.b.1: NaN is not a JSON number"),
    ('{"a": 1, "a": 2}', "body: duplicate key 'a'"),
    ('{"x": [{"k": 1, "k": 1}]}', "x.0: duplicate key 'k'"),
    ('{"a": 18446744073709551616}', "a: 18446744073709551616 is beyond the 64-bit integers"),
    ('{"a": [-9223372036854775809]}', "a.0: -9223372036854775809 is beyond the 64-bit integers"),
]
CLEAN = [
    '{"a": 1.5, "b": [1e300, -0.0], "c": {"NaN": "Infinity"}}',
    '{"a": 18446744073709551615, "b": -9223372036854775808}',
    "[]",
    "not json at all",
    '{"a": "NaN"}',
]


@pytest.mark.parametrize(("body", "fault"), FAULTS)
def test_a_non_strict_body_is_faulted_naming_the_field(body: str, fault: str) -> None:
    found = strict_json_fault(body.encode())
    assert found is not None and found.startswith(fault)


@pytest.mark.parametrize("body", CLEAN)
def test_a_strict_body_or_a_non_json_one_has_no_strictness_fault(body: str) -> None:
    assert strict_json_fault(body.encode()) is None


def _submission(jobs: str, tags: str = "{}") -> bytes:
    return (
        f'{{"schema_version": 1, "batch_id": "{uuid.uuid4()}", "tenant": "acme", "user_id": "u", '
        f'"depositor_email": "d@example.org", "tags": {tags}, "jobs": {jobs}}}'
    ).encode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_submission(f'[{{"job_uuid": "{uuid.uuid4()}", "params": {{"n": NaN}}}}]'), "jobs.0.params.n: NaN"),
        (_submission(f'[{{"job_uuid": "{uuid.uuid4()}", "params": {{"n": Infinity}}}}]'), "jobs.0.params.n: Infinity"),
        (_submission("[]", tags='{"retention_days": -Infinity}'), "tags.retention_days: -Infinity"),
        # It once passed validation and then crashed the fingerprint (orjson): the dispatcher requeued it.
        (_submission(f'[{{"job_uuid": "{uuid.uuid4()}", "params": {{"n": {2**64}}}}}]'), f"jobs.0.params.n: {2**64}"),
        (_submission(f'[{{"job_uuid": "{uuid.uuid4()}", "handler": "noop", "handler": "fail"}}]'), "jobs.0: duplicate"),
    ],
)
def test_a_submission_that_is_not_strict_json_is_invalid_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(ContractError) as refused:
        decode(Submission, body)
    assert refused.value.code is ErrorCode.INVALID_MESSAGE
    assert refused.value.reason.startswith(field)


def test_a_command_that_is_not_strict_json_is_invalid() -> None:
    body = b'{"schema_version": 1, "command": "pause_queue", "reason": "a", "reason": "b"}'
    with pytest.raises(ContractError) as refused:
        decode(Command, body)
    assert refused.value.code is ErrorCode.INVALID_MESSAGE
    assert "duplicate key 'reason'" in refused.value.reason


def test_the_schema_version_is_judged_before_strictness() -> None:
    body = b'{"schema_version": 2, "x": NaN}'
    with pytest.raises(ContractError) as refused:
        decode(Submission, body)
    assert refused.value.code is ErrorCode.UNSUPPORTED_SCHEMA_VERSION
