"""The job state machine: every legal transition, and the refusal of every other one.

Given a job whose history brought it to a state, when a decision is taken, then
either the expected events are recorded, or the decision is refused and nothing
is recorded at all.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.errors import IllegalTransitionError, RetryLimitError
from domain.job import MAX_FREE_ATTEMPTS, Job
from domain.states import TERMINAL_JOB_STATES, JobStatus
from tests.unit.domain.builders import HANDLER_ERROR, at, job_id, job_in, new_events, new_job

PENDING, PROCESSING, COMPLETED, FAILED = (
    JobStatus.PENDING,
    JobStatus.PROCESSING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
)
CANCELLED, SKIPPED, ABANDONED = JobStatus.CANCELLED, JobStatus.SKIPPED, JobStatus.ABANDONED

# Each decision under the name the domain gives the action in its refusals.
DECISIONS: dict[str, Callable[[Job], None]] = {
    "start": lambda job: job.start("worker-1", at(10)),
    "report progress": lambda job: job.report_progress(job.attempts, 0.5, at(10)),
    "complete": lambda job: job.complete(job.attempts, {"sha256": "ab"}, at(10)),
    "fail": lambda job: job.fail(job.attempts, HANDLER_ERROR, at(10)),
    "flag as stuck": lambda job: job.flag_stuck(job.attempts, 600.0, at(10)),
    "record a lost worker": lambda job: job.lose_worker(job.attempts, at(10)),
    "retry": lambda job: job.retry("admin", "fixed", False, at(10)),
    "retry with override": lambda job: job.retry("admin", "again", True, at(10)),
    "retry automatically": lambda job: job.retry_automatically(at(11), at(10)),
    "cancel": lambda job: job.cancel("dependency failed", at(10), cause_job_uuid=job_id(2)),
    "skip": lambda job: job.skip(job_id(2), "COMPLETED", at(10)),
    "abandon": lambda job: job.abandon(at(10)),
}

LEGAL: dict[tuple[JobStatus, str], tuple[JobStatus, list[str]]] = {
    (PENDING, "start"): (PROCESSING, ["JobStarted"]),
    (PENDING, "cancel"): (CANCELLED, ["JobCancelled"]),
    (PENDING, "skip"): (SKIPPED, ["JobSkipped"]),
    (PROCESSING, "cancel"): (CANCELLED, ["JobCancelled"]),  # the attempt is fenced off (contract v1.1)
    (PROCESSING, "report progress"): (PROCESSING, ["JobProgressed"]),
    (PROCESSING, "complete"): (COMPLETED, ["JobCompleted"]),
    (PROCESSING, "fail"): (FAILED, ["JobFailed"]),
    (PROCESSING, "flag as stuck"): (FAILED, ["JobStuck", "JobFailed"]),
    (PROCESSING, "record a lost worker"): (FAILED, ["JobFailed"]),
    (FAILED, "retry"): (PENDING, ["JobRetried"]),
    (FAILED, "retry with override"): (PENDING, ["JobRetried"]),
    (FAILED, "retry automatically"): (PENDING, ["JobRetried"]),
    (FAILED, "abandon"): (ABANDONED, ["JobAbandoned"]),
    **{(state, "retry with override"): (PENDING, ["JobRetried"]) for state in TERMINAL_JOB_STATES},
}

ILLEGAL = [(state, decision) for state in JobStatus for decision in DECISIONS if (state, decision) not in LEGAL]


def ids(case: tuple[JobStatus, str]) -> str:
    return f"{case[0].value}-{case[1].replace(' ', '_')}"


@pytest.mark.parametrize("case", list(LEGAL), ids=ids)
def test_legal_transition_records_its_events(case: tuple[JobStatus, str]) -> None:
    state, decision = case
    job = job_in(state, max_attempts=2)  # two attempts, so one automatic retry is allowed

    DECISIONS[decision](job)

    expected_state, expected_events = LEGAL[case]
    assert job.status is expected_state
    assert new_events(job) == expected_events


@pytest.mark.parametrize("case", ILLEGAL, ids=ids)
def test_illegal_transition_is_refused_and_names_job_state_and_action(
    case: tuple[JobStatus, str],
) -> None:
    state, decision = case
    job = job_in(state, max_attempts=2)
    version = job.version

    with pytest.raises(IllegalTransitionError) as refused:
        DECISIONS[decision](job)

    action = decision.removesuffix(" with override")
    error = refused.value
    assert error.code == "ILLEGAL_TRANSITION"
    assert f"job {job.id} is {state.value}; cannot {action}" in str(error)
    assert (error.aggregate_id, error.state, error.action) == (job.id, state.value, action)
    assert job.status is state
    assert job.version == version
    assert new_events(job) == []


def test_every_state_and_decision_is_either_legal_or_refused() -> None:
    # Guards the tables: 7 states x 12 decisions, 16 of them legal, none forgotten.
    assert (len(LEGAL), len(ILLEGAL)) == (17, 67)


@pytest.mark.parametrize("state", sorted(TERMINAL_JOB_STATES))
def test_retry_of_a_final_job_needs_override(state: JobStatus) -> None:
    job = job_in(state)

    with pytest.raises(IllegalTransitionError, match="retry needs override") as refused:
        job.retry("admin", "run it again", False, at(10))

    assert f"is {state.value}" in str(refused.value)
    assert new_events(job) == []


@pytest.mark.parametrize("state", sorted(TERMINAL_JOB_STATES))
def test_retry_with_override_reopens_a_final_job_and_is_recorded_as_such(state: JobStatus) -> None:
    job = job_in(state)

    job.retry("admin", "run it again", True, at(10))

    [retried] = job.collect_events()
    assert (retried.override, retried.automatic, retried.requested_by) == (True, False, "admin")
    assert job.status is PENDING
    assert job.skipped_because is None


def test_automatic_retry_past_max_attempts_raises_retry_limit() -> None:
    job = new_job(max_attempts=3)
    for attempt in (1, 2):
        job.start("worker-1", at(attempt))
        job.fail(attempt, HANDLER_ERROR, at(attempt, 30))
        job.retry_automatically(at(attempt + 1), at(attempt, 30))
    job.start("worker-1", at(3))
    job.fail(3, HANDLER_ERROR, at(3, 30))
    new_events(job)
    version = job.version

    with pytest.raises(RetryLimitError) as refused:
        job.retry_automatically(at(4), at(3, 30))

    assert refused.value.code == "RETRY_LIMIT"
    assert refused.value.job_uuid == job.id
    assert "has used 3 of 3 attempts" in str(refused.value)
    assert (job.status, job.version, job.attempts_spent) == (FAILED, version, 3)
    assert new_events(job) == []


def test_a_job_out_of_attempts_is_abandoned() -> None:
    job = job_in(FAILED, max_attempts=1)
    assert not job.may_retry_automatically

    job.abandon(at(10))

    [abandoned] = job.collect_events()
    assert abandoned.code == "RETRY_LIMIT"
    assert abandoned.reason == f"job {job.id} has used 1 of 1 attempts"
    assert job.status is ABANDONED


def test_automatic_retry_waits_until_not_before() -> None:
    job = job_in(FAILED, max_attempts=2)

    job.retry_automatically(at(15), at(10))

    [retried] = job.collect_events()
    assert (retried.automatic, retried.requested_by, retried.not_before) == (True, "batchq", at(15))
    assert retried.reason == "automatic retry after HANDLER_ERROR"
    assert job.not_before == at(15)
    job.start("worker-2", at(15))
    assert job.not_before is None


def lose(job: Job, how: str, minute: int) -> None:
    job.start(f"worker-{minute}", at(minute))
    if how == "WORKER_LOST":
        job.lose_worker(job.attempts, at(minute, 30))
    else:
        job.flag_stuck(job.attempts, 600.0, at(minute, 30))


@pytest.mark.parametrize("how", ["WORKER_LOST", "JOB_STUCK"])
def test_infrastructure_failures_do_not_spend_attempts(how: str) -> None:
    job = new_job(max_attempts=1)

    for minute in range(1, MAX_FREE_ATTEMPTS + 1):
        lose(job, how, minute)
        assert job.error_code == how
        assert job.attempts_spent == 0
        job.retry_automatically(at(minute + 1), at(minute, 30))

    assert job.attempts == MAX_FREE_ATTEMPTS
    assert job.status is PENDING


@pytest.mark.parametrize("how", ["WORKER_LOST", "JOB_STUCK"])
def test_infrastructure_failures_past_the_free_budget_spend_attempts(how: str) -> None:
    job = new_job(max_attempts=1)
    for minute in range(1, MAX_FREE_ATTEMPTS + 1):
        lose(job, how, minute)
        job.retry_automatically(at(minute + 1), at(minute, 30))

    lose(job, how, MAX_FREE_ATTEMPTS + 1)  # one failure more than the free budget

    assert job.attempts_spent == 1
    with pytest.raises(RetryLimitError):
        job.retry_automatically(at(10), at(9))


def test_a_handler_failure_after_free_attempts_spends_the_attempt() -> None:
    job = new_job(max_attempts=1)
    lose(job, "WORKER_LOST", 1)
    job.retry_automatically(at(2), at(1, 30))
    job.start("worker-2", at(2))

    job.fail(2, HANDLER_ERROR, at(2, 30))

    assert (job.attempts, job.attempts_spent) == (2, 1)
    with pytest.raises(RetryLimitError):
        job.retry_automatically(at(3), at(2, 30))


@pytest.mark.parametrize("how", ["WORKER_LOST", "JOB_STUCK"])
@pytest.mark.parametrize("late", ["report progress", "complete", "fail"])
def test_late_result_of_a_fenced_attempt_is_refused(how: str, late: str) -> None:
    job = new_job(max_attempts=1)
    lose(job, how, 1)
    new_events(job)

    with pytest.raises(IllegalTransitionError, match=f"is FAILED; cannot {late}"):
        DECISIONS[late](job)  # the old worker reports attempt 1 while the job is failed

    job.retry_automatically(at(2), at(1, 30))
    job.start("worker-2", at(2))
    new_events(job)
    stale = {
        "report progress": lambda: job.report_progress(1, 0.9, at(3)),
        "complete": lambda: job.complete(1, {"sha256": "late"}, at(3)),
        "fail": lambda: job.fail(1, HANDLER_ERROR, at(3)),
    }[late]

    with pytest.raises(IllegalTransitionError, match="attempt 1 is no longer current"):
        stale()  # ... and again once attempt 2 runs

    assert (job.status, job.attempts, job.result) == (PROCESSING, 2, None)
    assert new_events(job) == []


def test_flag_stuck_records_the_silence_and_fails_the_attempt() -> None:
    job = job_in(PROCESSING)

    job.flag_stuck(1, 601.0, at(20))

    stuck, failed = job.collect_events()
    assert (stuck.attempt, stuck.silent_seconds) == (1, 601.0)
    assert failed.error["code"] == "JOB_STUCK"
    assert failed.error["reason"] == "no heartbeat from worker worker-1 for 601s"
    assert job.stuck_attempt == 1


@pytest.mark.parametrize(("reported", "kept"), [(-0.5, 0.0), (0.0, 0.0), (0.25, 0.25), (1.0, 1.0), (1.7, 1.0)])
def test_progress_is_clamped_to_between_zero_and_one(reported: float, kept: float) -> None:
    job = job_in(PROCESSING)

    job.report_progress(1, reported, at(5), message="half way")

    [progressed] = job.collect_events()
    assert (progressed.progress, progressed.message) == (kept, "half way")
    assert job.progress == kept


def test_a_manual_retry_resets_the_automatic_budget() -> None:
    job = new_job(max_attempts=2)
    job.start("worker-1", at(1))
    job.fail(1, HANDLER_ERROR, at(2))
    job.retry_automatically(at(3), at(2))
    job.start("worker-1", at(3))
    job.fail(2, HANDLER_ERROR, at(4))
    assert not job.may_retry_automatically

    job.retry("admin", "payload fixed", False, at(5))

    assert (job.attempts, job.attempts_spent) == (2, 0)
    job.start("worker-2", at(6))
    job.fail(3, HANDLER_ERROR, at(7))
    job.retry_automatically(at(8), at(7))  # the new budget allows one automatic retry...
    job.start("worker-2", at(8))
    job.fail(4, HANDLER_ERROR, at(9))
    with pytest.raises(RetryLimitError):
        job.retry_automatically(at(10), at(9))  # ... and not a second
    assert (job.attempts, job.attempts_spent) == (4, 2)


def test_each_start_is_a_new_attempt_with_fresh_progress() -> None:
    job = job_in(PROCESSING, max_attempts=2)
    job.report_progress(1, 0.5, at(2))
    job.fail(1, HANDLER_ERROR, at(3))
    job.retry_automatically(at(4), at(3))
    new_events(job)

    job.start("worker-2", at(4))

    [started] = job.collect_events()
    assert (started.attempt, started.worker_id) == (2, "worker-2")
    assert (job.attempts, job.progress, job.worker_id) == (2, None, "worker-2")


def test_completion_records_the_result_and_clears_the_error() -> None:
    job = job_in(FAILED, max_attempts=2)
    job.retry_automatically(at(4), at(3))
    job.start("worker-1", at(4))

    job.complete(2, {"sha256": "cd"}, at(5))

    assert (job.result, job.error, job.progress) == ({"sha256": "cd"}, None, 1.0)


def test_skip_records_why_and_whether_the_item_was_done() -> None:
    job = new_job(item={"key": "release-42", "version": 2, "target": "retailer-x"})
    new_events(job)

    job.skip(job_id(7), "FAILED", at(1))

    [skipped] = job.collect_events()
    assert skipped.reason == f"item release-42 v2 for retailer-x is FAILED in job {job_id(7)}"
    assert (skipped.earlier_job_uuid, skipped.earlier_status, skipped.as_done) == (
        job_id(7),
        "FAILED",
        False,
    )
    assert not job.skipped_as_done


def test_a_result_of_an_attempt_cancelled_while_running_is_refused() -> None:
    job = job_in(PROCESSING)

    job.cancel("cancelled by admin", at(5))
    [cancelled] = job.collect_events()

    assert cancelled.attempt == 1
    with pytest.raises(IllegalTransitionError):
        job.complete(1, {"late": True}, at(6))
