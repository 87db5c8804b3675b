"""The worker's free slots: one count of the jobs taken, and the order in which waiting ones run."""

from __future__ import annotations

import asyncio

from services.worker.slots import Slots


def test_a_message_takes_what_is_free_and_at_least_one_job() -> None:
    async def scenario() -> None:
        slots = Slots(3)
        assert len(slots.take(2)) == 2 and slots.free == 1
        assert len(slots.take(5)) == 1 and slots.free == 0
        assert len(slots.take(5)) == 1 and slots.free == -1  # a full worker still takes one

    asyncio.run(scenario())


def test_a_job_taken_beyond_the_size_waits_until_a_running_one_is_over() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        (running,) = slots.take(1)
        (waiting,) = slots.take(1)
        assert running.done() and not waiting.done()
        slots.release(running)
        assert waiting.done() and slots.free == 0
        slots.release(waiting)
        assert slots.free == 1

    asyncio.run(scenario())


def test_a_waiting_job_that_is_given_up_hands_no_slot_on() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        (running,) = slots.take(1)
        (first,) = slots.take(1)
        (second,) = slots.take(1)
        slots.release(first)  # given up before its turn: it never had a slot
        assert not second.done() and slots.free == -1
        slots.release(running)
        assert second.done() and slots.free == 0

    asyncio.run(scenario())
