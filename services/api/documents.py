"""The API's documents that `batchq status` has no counterpart for: one job with its attempts.

Built from the job's event envelopes (the ones `batchq events --job` prints), so
the attempts and errors shown are exactly what is stored.
"""

from __future__ import annotations

from typing import Any

ENDINGS = {"JobCompleted": "COMPLETED", "JobFailed": "FAILED", "JobStuck": "STUCK"}


def attempts(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per `JobStarted`: who ran it, when, how it ended, and its error if it failed."""
    found: dict[int, dict[str, Any]] = {}
    for env in envelopes:
        data = env["data"]
        if env["type"] == "JobStarted":
            found[data["attempt"]] = {
                "attempt": data["attempt"],
                "worker_id": data["worker_id"],
                "started_at": env["occurred_at"],
                "ended_at": None,
                "outcome": None,
                "progress": None,
                "error": None,
            }
        elif env["type"] == "JobProgressed" and data["attempt"] in found:
            found[data["attempt"]]["progress"] = data["progress"]
        elif env["type"] in ("JobCompleted", "JobFailed") and data["attempt"] in found:
            entry = found[data["attempt"]]
            entry.update(ended_at=env["occurred_at"], outcome=ENDINGS[env["type"]], error=data.get("error"))
    return [found[n] for n in sorted(found)]


def job_document(job_status: dict[str, Any], envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    """The job as `status --json` shows it, its batch, handler, attempts and every error it had."""
    [submitted] = [e for e in envelopes if e["type"] == "JobSubmitted"] or [None]
    tried = attempts(envelopes)
    return {
        **job_status,
        "batch_id": envelopes[0]["batch_id"] if envelopes else None,
        "tenant": envelopes[0]["tenant"] if envelopes else None,
        "handler": submitted["data"]["handler"] if submitted else None,
        "pool": submitted["data"]["pool"] if submitted else None,
        "max_attempts": submitted["data"]["max_attempts"] if submitted else None,
        "attempt_history": tried,
        "errors": [a["error"] for a in tried if a["error"]],
    }
