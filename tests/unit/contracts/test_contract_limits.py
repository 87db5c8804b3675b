"""Submissions bigger than the operator's limits are refused, naming the limit."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from contracts.errors import ContractError, ErrorCode
from contracts.manifest import JobSpec, Limits, check_limits, check_manifest_size, check_message_size


def jobs(count: int, **fields: object) -> list[JobSpec]:
    return [JobSpec.model_validate({"job_uuid": uuid4(), **fields}) for _ in range(count)]


def refusal_reason(job_list: list[JobSpec], limits: Limits) -> str:
    with pytest.raises(ContractError) as caught:
        check_limits(job_list, limits)
    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    return caught.value.reason


def test_default_limits_are_the_documented_ones() -> None:
    assert Limits() == Limits(
        max_jobs=200_000,
        max_manifest_bytes=64 * 1024 * 1024,
        max_message_bytes=16 * 1024 * 1024,
        max_params_bytes=64 * 1024,
        max_depends_on=1000,
    )


def test_a_batch_within_limits_passes() -> None:
    check_limits(jobs(3, params={"seconds": 1}), Limits(max_jobs=3))


def test_too_many_jobs_are_refused() -> None:
    reason = refusal_reason(jobs(4), Limits(max_jobs=3))
    assert "max_jobs=3" in reason and "4 jobs" in reason


def test_too_many_dependencies_are_refused_naming_the_job() -> None:
    batch = jobs(1) + jobs(1, depends_on=[uuid4() for _ in range(3)])
    reason = refusal_reason(batch, Limits(max_depends_on=2))
    assert reason.startswith("jobs.1.depends_on:")
    assert str(batch[1].job_uuid) in reason and "max_depends_on=2" in reason


def test_oversized_params_are_refused_naming_the_job() -> None:
    batch = jobs(1, params={"blob": "x" * 100})
    reason = refusal_reason(batch, Limits(max_params_bytes=64))
    assert reason.startswith("jobs.0.params:")
    assert "max_params_bytes=64" in reason


def test_a_fetched_manifest_over_the_limit_is_unavailable() -> None:
    check_manifest_size(1024, Limits(max_manifest_bytes=1024))
    with pytest.raises(ContractError) as caught:
        check_manifest_size(1025, Limits(max_manifest_bytes=1024))
    assert caught.value.code is ErrorCode.MANIFEST_UNAVAILABLE
    assert "1024 bytes (BATCHQ_MAX_MANIFEST_BYTES)" in caught.value.reason


def test_an_oversized_message_is_invalid_before_it_is_parsed() -> None:
    check_message_size(1024, Limits(max_message_bytes=1024))
    with pytest.raises(ContractError) as caught:
        check_message_size(1025, Limits(max_message_bytes=1024))
    assert caught.value.code is ErrorCode.INVALID_MESSAGE
    assert "BATCHQ_MAX_MESSAGE_BYTES=1024" in caught.value.reason


def test_limits_are_frozen() -> None:
    limits = Limits()
    with pytest.raises(AttributeError):
        limits.max_jobs = 1  # type: ignore[misc]


def test_a_job_spec_is_frozen() -> None:
    job = JobSpec(job_uuid=UUID(int=1))
    with pytest.raises(ValueError, match="frozen"):
        job.__setattr__("handler", "fail")
