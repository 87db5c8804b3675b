"""Asking the store which job ids exist ahead of the intake, while the submission is still being drafted.

For a 100,000-job submission the question takes 0.24 s on PostgreSQL, and drafting and
fingerprinting the submission, which come first, take 0.2-0.4 s of Python: asked on a
helper thread as soon as decoding has named the ids, the answer is mostly there by the
time the intake needs it. The answer is used only if no jobs were stored since it was
asked (`still_current`), since only the intake creates jobs, on the dispatcher's one
thread; otherwise the intake asks again. A save counts once it has returned, so a save
that the lookup may not have seen always shows as one made since.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from uuid import UUID

from services.adapters.store import EventStore


class JobsStored:
    """How many times the intake has stored jobs: what tells a lookup's answer current."""

    def __init__(self) -> None:
        self.count = 0

    def saved(self) -> None:
        self.count += 1  # only the dispatcher's thread stores jobs; others only read the count


class JobIdLookup:
    def __init__(self, answer: Future[set[UUID]], asked_after: int) -> None:
        self.answer = answer
        self.asked_after = asked_after

    def still_current(self, stored: JobsStored) -> bool:
        return stored.count == self.asked_after


class JobIdLookups:
    """One helper thread that answers lookups in turn."""

    def __init__(self, store: EventStore, stored: JobsStored) -> None:
        self.store = store
        self.stored = stored
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="job-id-lookup")

    def ask(self, job_uuids: list[UUID]) -> JobIdLookup:
        asked_after = self.stored.count  # read before the question is sent: see the module docstring
        return JobIdLookup(self.thread.submit(self.store.existing, job_uuids), asked_after)

    def close(self) -> None:
        self.thread.shutdown(wait=False, cancel_futures=True)
