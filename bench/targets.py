"""The performance targets (issue #14), judged from one `bench.run` document.

Each target names its figure, its limit and whether the run met it. A figure the
run did not measure (no `--celery`, no `--scaling`) is "not measured", never met:
`python -m bench.run --celery --repeat 3 --scaling` measures them all.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

COMPARISONS: dict[str, Callable[[float, float], bool]] = {"<": operator.lt, "≤": operator.le, "≥": operator.ge}


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    comparison: str  # "<", "≤" or "≥"
    limit: float

    @property
    def met(self) -> bool | None:
        """None when the run did not measure it."""
        return None if self.value is None else COMPARISONS[self.comparison](self.value, self.limit)

    def line(self) -> str:
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[self.met]
        value = "-" if self.value is None else f"{self.value:.3f}"
        return f"  {verdict:<12} {self.name}: {value} (target {self.comparison} {self.limit:g})"


def report_seconds(run: Mapping[str, Any]) -> float | None:
    """Last JobCompleted → report email received, in seconds."""
    phases = run.get("phases_seconds_after_publish") or {}
    if phases.get("email_received") is None or phases.get("last_job_completed") is None:
        return None
    return round(phases["email_received"] - phases["last_job_completed"], 3)


def first_job_seconds(run: Mapping[str, Any]) -> float | None:
    """Publish → first JobStarted, in seconds."""
    return (run.get("phases_seconds_after_publish") or {}).get("first_job_started")


def judge(doc: Mapping[str, Any], rounds: Sequence[Mapping[str, Any]]) -> list[Target]:
    """The targets as this run stands: `rounds` are its 10,000-job batchq rounds (worst report counts)."""
    reports = [s for s in map(report_seconds, rounds) if s is not None]
    scaling = doc.get("scaling") or {}
    large = (scaling.get("runs") or {}).get("100k") or {}
    jobs = rounds[0].get("jobs", 10_000) if rounds else 10_000
    return [
        Target(f"batchq / Celery jobs per second, {jobs:,} jobs, medians", doc.get("batchq_over_celery"), "≥", 3.0),
        Target(f"last JobCompleted → email, {jobs:,} jobs, worst round, s", max(reports, default=None), "<", 1.0),
        Target("last JobCompleted → email, 100,000 jobs, s", report_seconds(large), "<", 1.0),
        Target("first job started after the publish, 100,000 jobs, s", first_job_seconds(large), "<", 1.0),
        Target("cost per job, 100,000 over 1,000 jobs", scaling.get("ratio_100k_over_1k"), "≤", 1.1),
    ]
