"""How many jobs this worker may still take: one count, and the order in which waiting jobs run.

A job message may carry more jobs than there are free slots: the claim pipeline
takes what is free (at least one, so a full worker still makes progress on the
message in hand) and passes the rest back to the queue. A job taken beyond the
size waits for its turn, first come first served, until a running one finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class Slots:
    def __init__(self, size: int) -> None:
        self.size = size
        self.taken = 0  # jobs taken from messages and not yet over: running, claiming or waiting for a turn
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> int:
        return self.size - self.taken

    def take(self, wanted: int) -> list[asyncio.Future[None]]:
        """Take up to `wanted` jobs (what is free, at least one): a turn each, done when the job may run."""
        loop = asyncio.get_running_loop()
        turns = []
        for _ in range(min(wanted, max(1, self.free))):
            turn: asyncio.Future[None] = loop.create_future()
            if self.taken < self.size:
                turn.set_result(None)
            else:
                self._waiting.append(turn)
            self.taken += 1
            turns.append(turn)
        return turns

    def release(self, turn: asyncio.Future[None]) -> None:
        """A taken job is over: the slot it ran in goes to the first job still waiting."""
        self.taken -= 1
        if not turn.done() or turn.cancelled():  # it never ran: it had no slot to hand on
            with contextlib.suppress(ValueError):
                self._waiting.remove(turn)
            turn.cancel()
            return
        while self._waiting:
            waiting = self._waiting.popleft()
            if not waiting.done():
                waiting.set_result(None)
                return
