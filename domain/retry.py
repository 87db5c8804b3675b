"""When an automatic retry may run: capped exponential backoff with jitter (QUEUE-010).

The random draw comes in as an argument so the policy stays pure and testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BackoffPolicy:
    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    jitter: float = 0.2  # ± fraction of the delay

    def delay(self, attempt: int, draw: float) -> float:
        """Seconds to wait before attempt `attempt + 1`; `draw` is uniform in [0, 1)."""
        doublings = min(max(0, attempt - 1), 64)  # past 2**64 every delay is capped anyway
        capped: float = min(self.cap_seconds, self.base_seconds * 2.0**doublings)
        return capped * (1 - self.jitter + 2 * self.jitter * draw)

    def not_before(self, failed_at: datetime, attempt: int, draw: float) -> datetime:
        return failed_at + timedelta(seconds=self.delay(attempt, draw))
