"""The benchmark judges the performance targets from its own figures; what it did not measure is never met."""

from __future__ import annotations

from typing import Any

import pytest

from bench.targets import Target, judge


def _run(first_started: float, last_completed: float, email: float) -> dict[str, Any]:
    return {
        "jobs": 10_000,
        "phases_seconds_after_publish": {
            "first_job_started": first_started,
            "last_job_completed": last_completed,
            "email_received": email,
        },
    }


EVERYTHING = {
    "batchq_over_celery": 3.7,
    "scaling": {"ratio_100k_over_1k": 0.8, "runs": {"100k": _run(0.76, 27.2, 28.05)}},
}
ROUNDS = [_run(0.1, 2.0, 2.1), _run(0.1, 3.0, 3.4)]

VERDICTS = {
    "all met": (EVERYTHING, ROUNDS, [True, True, True, True, True]),
    "the worst 10,000-job round counts": (EVERYTHING, [*ROUNDS, _run(0.1, 3.0, 4.2)], [True, False, True, True, True]),
    "too slow against Celery": ({**EVERYTHING, "batchq_over_celery": 2.99}, ROUNDS, [False, True, True, True, True]),
    "a first job at exactly 1 s is late": (
        {**EVERYTHING, "scaling": {"ratio_100k_over_1k": 1.1, "runs": {"100k": _run(1.0, 27.2, 28.0)}}},
        ROUNDS,
        [True, True, True, False, True],
    ),
    "no --celery, no --scaling": ({}, ROUNDS, [None, True, None, None, None]),
    "nothing at all": ({}, [], [None, None, None, None, None]),
}


@pytest.mark.parametrize(("doc", "rounds", "expected"), VERDICTS.values(), ids=VERDICTS.keys())
def test_each_target_is_met_missed_or_not_measured(
    doc: dict[str, Any], rounds: list[dict[str, Any]], expected: list[bool | None]
) -> None:
    assert [t.met for t in judge(doc, rounds)] == expected


def test_a_target_line_says_the_verdict_the_value_and_the_limit() -> None:
    assert Target("ratio", 2.5, "≥", 3.0).line() == "  NOT MET      ratio: 2.500 (target ≥ 3)"
    assert Target("ratio", None, "≥", 3.0).line() == "  not measured ratio: - (target ≥ 3)"
