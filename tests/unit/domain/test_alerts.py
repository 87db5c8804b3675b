"""domain/alerts.py: values and thresholds → raised, cleared and firing alerts, one row per rule."""

from __future__ import annotations

import pytest

from domain.alerts import AlertKey, Firing, evaluate, failure_rate

THRESHOLDS = {"queue_depth": 100.0, "stuck_jobs": 0.0, "failure_rate": 0.5}
DEEP = ("queue_depth", "default")
STUCK = ("stuck_jobs", "all")
RATE = ("failure_rate", "all")


def fired(key: AlertKey, value: float) -> Firing:
    return Firing(key[0], key[1], value, THRESHOLDS[key[0]])


# (why, values now, firing before, raised, cleared, firing after)
ROWS = [
    ("below the threshold: nothing", {DEEP: 100.0}, {}, [], [], []),
    ("above the threshold: raised", {DEEP: 101.0}, {}, [DEEP], [], [DEEP]),
    ("a zero threshold fires on the first one", {STUCK: 1.0}, {}, [STUCK], [], [STUCK]),
    ("still above: firing, not raised again", {DEEP: 150.0}, {DEEP: fired(DEEP, 101)}, [], [], [DEEP]),
    ("back at the threshold: cleared", {DEEP: 100.0}, {DEEP: fired(DEEP, 101)}, [], [DEEP], []),
    ("not measured while firing: stays firing", {RATE: None}, {RATE: fired(RATE, 0.9)}, [], [], [RATE]),
    ("not measured while quiet: nothing", {RATE: None}, {}, [], [], []),
    ("a subject gone from the values: cleared", {}, {DEEP: fired(DEEP, 101)}, [], [DEEP], []),
    (
        "one pool deep, another fine",
        {DEEP: 500.0, ("queue_depth", "canary"): 3.0},
        {},
        [DEEP],
        [],
        [DEEP],
    ),
]


@pytest.mark.parametrize(("why", "values", "before", "raised", "cleared", "after"), ROWS, ids=[r[0] for r in ROWS])
def test_alerts_fire_above_their_threshold_and_clear_at_or_below_it(
    why: str,
    values: dict[AlertKey, float | None],
    before: dict[AlertKey, Firing],
    raised: list[AlertKey],
    cleared: list[AlertKey],
    after: list[AlertKey],
) -> None:
    changes = evaluate(values, THRESHOLDS, before)
    assert [(f.alert, f.subject) for f in changes.raised] == raised
    assert [(f.alert, f.subject) for f in changes.cleared] == cleared
    assert sorted(changes.firing) == sorted(after)


def test_a_raised_alert_carries_its_value_and_threshold() -> None:
    [raised] = evaluate({DEEP: 250.0}, THRESHOLDS, {}).raised
    assert (raised.value, raised.threshold) == (250.0, 100.0)


@pytest.mark.parametrize(
    ("failed", "completed", "minimum", "rate"),
    [(0, 0, 0, None), (1, 1, 10, None), (5, 5, 10, 0.5), (9, 1, 10, 0.9), (0, 10, 1, 0.0)],
)
def test_the_failure_rate_is_judged_only_over_enough_outcomes(
    failed: int, completed: int, minimum: int, rate: float | None
) -> None:
    assert failure_rate(failed, completed, minimum) == rate
