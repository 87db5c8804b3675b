"""The worker's claim → run → outcome path, on the embedded adapters (no servers).

Given a PENDING job in the store, when its job message is delivered, then the
worker appends `JobStarted` and the outcome its handler gave: `JobCompleted`
with the result, or `JobFailed` with the error's code, reason, traceback and stage.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from services.adapters.bus import Outcome
from services.worker.handlers import HandlerError, JobContext
from tests.unit.services.worker_harness import WORKER_ID, Gate, deliver, new_job, run, worker_on

STARTED_THEN_FAILED = ["JobSubmitted", "JobStarted", "JobFailed"]


async def answer(ctx: JobContext) -> dict[str, Any]:
    return {"answer": 42, "attempt": ctx.attempt}


async def boom(ctx: JobContext) -> None:
    raise ValueError("the payload is odd")


async def corrupt(ctx: JobContext) -> None:
    raise HandlerError("CORRUPT_PAYLOAD", "checksum mismatch in item 3", stage="download")


async def not_json(ctx: JobContext) -> float:
    return float("nan")


def test_a_claimed_job_is_started_then_completed_with_its_result(tmp_path: Path) -> None:
    job = new_job("answer")
    then = deliver(tmp_path, {"answer": answer}, [job], [job.id])
    assert [v.outcome for v in then.verdicts] == [Outcome.ACK]
    assert then.events(job.id) == ["JobSubmitted", "JobStarted", "JobCompleted"]
    started = then.event(job.id, "JobStarted")
    assert (started.worker_id, started.attempt) == (WORKER_ID, 1)
    assert then.event(job.id, "JobCompleted").result == {"answer": 42, "attempt": 1}
    assert then.completed == 1


def test_a_claimed_job_that_raises_is_recorded_failed_with_code_reason_traceback_and_stage(tmp_path: Path) -> None:
    job = new_job("boom")
    then = deliver(tmp_path, {"boom": boom}, [job], [job.id])
    assert then.events(job.id) == STARTED_THEN_FAILED
    error = then.event(job.id, "JobFailed").error
    assert error["code"] == "HANDLER_ERROR"
    assert error["reason"] == "ValueError: the payload is odd"
    assert "Traceback" in error["traceback"] and "in boom" in error["traceback"]
    assert error["stage"] == "execution"
    assert then.completed == 0


def test_a_handler_error_is_recorded_with_its_own_code_reason_and_stage(tmp_path: Path) -> None:
    job = new_job("corrupt")
    error = deliver(tmp_path, {"corrupt": corrupt}, [job], [job.id]).event(job.id, "JobFailed").error
    assert (error["code"], error["reason"], error["stage"]) == (
        "CORRUPT_PAYLOAD",
        "checksum mismatch in item 3",
        "download",
    )


def test_a_job_whose_handler_is_unknown_fails_at_claim_with_unknown_handler(tmp_path: Path) -> None:
    job = new_job("no-such-handler")
    then = deliver(tmp_path, {}, [job], [job.id])
    assert then.events(job.id) == STARTED_THEN_FAILED
    error = then.event(job.id, "JobFailed").error
    assert (error["code"], error["stage"]) == ("UNKNOWN_HANDLER", "claim")
    assert "'no-such-handler'" in error["reason"]


def test_a_result_that_is_not_strict_json_fails_the_job_at_the_result_stage(tmp_path: Path) -> None:
    job = new_job("not_json")
    error = deliver(tmp_path, {"not_json": not_json}, [job], [job.id]).event(job.id, "JobFailed").error
    assert (error["code"], error["stage"]) == ("INVALID_RESULT", "result")


def test_a_sync_handler_runs_on_a_handler_thread_not_the_event_loop(tmp_path: Path) -> None:
    job = new_job("blocking")
    threads: list[str] = []

    def blocking(ctx: JobContext) -> str:
        threads.append(threading.current_thread().name)
        return "done"

    then = deliver(tmp_path, {"blocking": blocking}, [job], [job.id])
    assert then.event(job.id, "JobCompleted").result == "done"
    assert len(threads) == 1 and threads[0].startswith("handler")


def test_a_running_claim_is_locked_and_named_by_the_heartbeat_until_its_outcome_is_recorded(tmp_path: Path) -> None:
    job, gate = new_job("gate"), Gate()

    async def scenario() -> None:
        async with worker_on(tmp_path, {"gate": gate.handle}) as w:
            await w.running(job, gate)
            await w.worker.heartbeat.beat()
            assert w.locks.holding == {(job.id, 1)}
            assert w.locks.workers[WORKER_ID].jobs == [(job.id, 1)]
            gate.opened.set()
            await w.settle()
            await w.worker.heartbeat.beat()
            assert w.locks.holding == set()
            assert w.locks.workers[WORKER_ID].jobs == []
            assert w.worker.claims == {}

    run(scenario)


def test_progress_a_handler_reports_is_recorded_as_job_progressed_in_the_running_attempt(tmp_path: Path) -> None:
    job, gate = new_job("gate"), Gate(progress=(0.5, "half of it"))

    async def scenario() -> None:
        async with worker_on(tmp_path, {"gate": gate.handle}) as w:
            await w.running(job, gate)
            await w.worker.runner.flush_progress()
            await w.worker.runner.flush_progress()  # nothing new: nothing recorded
            gate.opened.set()
            await w.settle()
            assert w.events(job.id) == ["JobSubmitted", "JobStarted", "JobProgressed", "JobCompleted"]
            progressed = w.event(job.id, "JobProgressed")
            assert (progressed.attempt, progressed.progress, progressed.message) == (1, 0.5, "half of it")

    run(scenario)


def test_a_late_result_of_an_attempt_fenced_off_meanwhile_is_refused_and_its_lock_released(tmp_path: Path) -> None:
    job, gate = new_job("gate"), Gate(result="too late")

    async def scenario() -> None:
        async with worker_on(tmp_path, {"gate": gate.handle}) as w:
            await w.running(job, gate)
            running = w.job(job.id)  # the dispatcher's recovery: the worker is lost, the attempt failed
            running.lose_worker(1, running.modified_on)
            w.given(running)
            gate.opened.set()
            await w.settle()
            assert w.events(job.id) == STARTED_THEN_FAILED
            assert w.event(job.id, "JobFailed").error["code"] == "WORKER_LOST"
            assert w.locks.holding == set()
            assert w.worker.runner.completed == 0

    run(scenario)
