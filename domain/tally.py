"""A batch's job counts by state, kept up to date one job change at a time.

Deciding whether a batch can be reported reads these counts, never the jobs, so a
100,000-job batch costs the same per job event as a 10-job one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from domain.states import SETTLED_JOB_STATES, JobStatus


@dataclass
class JobTally:
    total: int
    counts: Counter[JobStatus] = field(default_factory=Counter)

    @classmethod
    def all_pending(cls, total: int) -> JobTally:
        return cls(total=total, counts=Counter({JobStatus.PENDING: total}))

    def move(self, old: JobStatus | None, new: JobStatus) -> None:
        """One job went from `old` (None: newly counted) to `new`."""
        if old is not None:
            self.counts[old] -= 1
        self.counts[new] += 1

    @property
    def settled(self) -> int:
        return sum(self.counts[s] for s in SETTLED_JOB_STATES)

    @property
    def all_settled(self) -> bool:
        return self.settled == self.total

    def as_dict(self) -> dict[str, int]:
        return {status.value: n for status, n in sorted(self.counts.items()) if n}
