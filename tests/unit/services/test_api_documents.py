"""services/api/documents.py: a job's attempts, rebuilt from its event envelopes."""

from __future__ import annotations

from typing import Any

from services.api.documents import attempts, job_document

ERROR = {"code": "BAD", "reason": "no", "traceback": "Traceback ...", "stage": "execution"}


def env(kind: str, when: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": when, "batch_id": "b", "tenant": "acme", "data": data}


HISTORY = [
    env("JobSubmitted", "t0", handler="flaky", pool="default", max_attempts=2),
    env("JobStarted", "t1", attempt=1, worker_id="w1"),
    env("JobProgressed", "t2", attempt=1, progress=0.5),
    env("JobFailed", "t3", attempt=1, error=ERROR),
    env("JobRetried", "t4", automatic=True),
    env("JobStarted", "t5", attempt=2, worker_id="w2"),
]


def test_each_start_is_an_attempt_with_its_end_and_error_and_a_running_one_has_none() -> None:
    assert attempts(HISTORY) == [
        {"attempt": 1, "worker_id": "w1", "started_at": "t1", "ended_at": "t3", "outcome": "FAILED",
         "progress": 0.5, "error": ERROR},
        {"attempt": 2, "worker_id": "w2", "started_at": "t5", "ended_at": None, "outcome": None,
         "progress": None, "error": None},
    ]  # fmt: skip


def test_the_job_document_adds_handler_pool_attempts_and_errors_to_the_status_entry() -> None:
    entry = {"job_uuid": "j", "status": "PROCESSING", "attempts": 2, "progress": None, "error": ERROR}
    doc = job_document(entry, HISTORY)
    assert {k: doc[k] for k in entry} == entry
    assert (doc["handler"], doc["pool"], doc["max_attempts"], doc["batch_id"]) == ("flaky", "default", 2, "b")
    assert doc["errors"] == [ERROR] and len(doc["attempt_history"]) == 2
