"""Which alerts fire: measured values against thresholds, and what changed since the last look.

Pure, so the rule is one table-driven test: an alert fires while its value is
above its threshold (a threshold of 0 fires on the first one), and a value that
was not measured (None: the read model could not say) neither raises nor clears.
Each alert is named by the kind of value and its subject (a pool for queue depth,
`all` otherwise), so one deep pool does not hide another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

AlertKey = tuple[str, str]  # (alert, subject)


@dataclass(frozen=True)
class Firing:
    alert: str
    subject: str
    value: float
    threshold: float


@dataclass(frozen=True)
class Changes:
    raised: tuple[Firing, ...]
    cleared: tuple[Firing, ...]
    firing: Mapping[AlertKey, Firing]


def failure_rate(failed: int, completed: int, min_outcomes: int) -> float | None:
    """failed / outcomes over the window; None below `min_outcomes` (too few to judge)."""
    outcomes = failed + completed
    if outcomes == 0 or outcomes < min_outcomes:
        return None
    return failed / outcomes


def evaluate(
    values: Mapping[AlertKey, float | None],
    thresholds: Mapping[str, float],
    before: Mapping[AlertKey, Firing],
) -> Changes:
    """The alerts firing now, and those raised and cleared since `before`."""
    firing: dict[AlertKey, Firing] = {}
    for key, value in values.items():
        alert, subject = key
        threshold = thresholds[alert]
        if value is None:
            if key in before:
                firing[key] = before[key]  # not measured: stays as it was
        elif value > threshold:
            firing[key] = Firing(alert, subject, value, threshold)
    raised = tuple(f for key, f in firing.items() if key not in before)
    cleared = tuple(
        Firing(f.alert, f.subject, _value_now(values, key), f.threshold)
        for key, f in before.items()
        if key not in firing
    )
    return Changes(raised, cleared, firing)


def _value_now(values: Mapping[AlertKey, float | None], key: AlertKey) -> float:
    value = values.get(key)
    return 0.0 if value is None else value
