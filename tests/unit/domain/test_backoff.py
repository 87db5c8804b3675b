"""Automatic-retry backoff (QUEUE-010): exponential, capped, jittered by a draw passed in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.retry import BackoffPolicy
from tests.unit.domain.builders import at

POLICY = BackoffPolicy(base_seconds=1.0, cap_seconds=300.0, jitter=0.2)
NO_JITTER = 0.5  # the middle of the draw range leaves the delay as it is


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 256.0)])
def test_delay_doubles_with_each_attempt(attempt: int, seconds: float) -> None:
    assert POLICY.delay(attempt, NO_JITTER) == seconds


@pytest.mark.parametrize("attempt", [10, 11, 30, 100])
def test_delay_is_capped(attempt: int) -> None:
    assert POLICY.delay(attempt, NO_JITTER) == 300.0


def test_attempt_zero_waits_the_base_delay() -> None:
    assert POLICY.delay(0, NO_JITTER) == 1.0


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.8), (0.25, 0.9), (0.75, 1.1)])
def test_jitter_moves_the_delay_by_at_most_the_jitter_fraction(draw: float, factor: float) -> None:
    assert POLICY.delay(3, draw) == pytest.approx(4.0 * factor)


@given(
    attempt=st.integers(min_value=1, max_value=100),
    draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_jittered_delay_stays_within_plus_or_minus_jitter_of_the_capped_delay(attempt: int, draw: float) -> None:
    capped = min(POLICY.cap_seconds, POLICY.base_seconds * 2 ** (attempt - 1))

    delay = POLICY.delay(attempt, draw)

    assert capped * (1 - POLICY.jitter) <= delay <= capped * (1 + POLICY.jitter)


@given(attempt=st.integers(min_value=1, max_value=50))
def test_delay_never_shrinks_from_one_attempt_to_the_next(attempt: int) -> None:
    assert POLICY.delay(attempt + 1, NO_JITTER) >= POLICY.delay(attempt, NO_JITTER)


def test_not_before_is_the_failure_time_plus_the_delay() -> None:
    assert POLICY.not_before(at(10), 3, NO_JITTER) == at(10, 4)


def test_delay_stays_capped_for_a_very_high_attempt_number() -> None:
    assert POLICY.delay(1100, NO_JITTER) == 300.0
