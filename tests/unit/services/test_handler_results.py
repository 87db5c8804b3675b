"""A handler's result and progress end up in events, so they must be strict JSON."""

from __future__ import annotations

import uuid

import pytest

from services.worker.handlers import HandlerError, JobContext, check_result


@pytest.mark.parametrize(
    "result", [float("nan"), {"x": float("inf")}, [float("-inf")], {"s": {1, 2}}, {"n": 2**64}, [-(2**63) - 1]]
)
def test_a_result_that_is_not_strict_json_fails_the_job_with_invalid_result(result: object) -> None:
    with pytest.raises(HandlerError) as failed:
        check_result(result)
    assert failed.value.code == "INVALID_RESULT"
    assert failed.value.stage == "result"


@pytest.mark.parametrize("result", [None, 1.5, {"sha256": "ab"}, [1, "two", {"three": 3.0}], [2**64 - 1, -(2**63)]])
def test_a_strict_json_result_passes(result: object) -> None:
    check_result(result)


def test_a_non_finite_progress_is_ignored_and_others_are_clamped() -> None:
    ctx = JobContext(job_uuid=uuid.uuid4(), batch_id=uuid.uuid4(), attempt=1, params={}, payload_url=None)
    ctx.progress(0.5)
    ctx.progress(float("nan"))
    assert ctx.progress_value == 0.5
    ctx.progress(7)
    assert ctx.progress_value == 1.0
