"""A history checker for fault tests: it judges the whole recorded history, not one example.

Run after a fault test on the store's event log (`batchq events --json`) and the
mails the SMTP sink received. It reports, rather than asserts, so a soak can print
its figures; `History.assert_sound()` is what a test calls.

- lost: a submitted job that is neither final nor explainably waiting
  (PENDING/FAILED while the queue is paused or it awaits an admin);
- duplicates: two `JobCompleted` for one attempt, or an outcome recorded for an
  attempt that was already fenced off (`JobFailed` WORKER_LOST / JOB_STUCK);
- illegal transitions, by the job state machine's own table;
- positions not strictly increasing;
- torn aggregates: a job's or batch's versions not 1, 2, 3, ... (an append half made, or lost);
- more than one distinct email per report (same `Message-ID`, other content), or
  a recorded `BatchReported` that sent mail with no email for it;
- the read model saying otherwise than the replayed aggregates (`read_model`, filled by
  `tests/faults/read_model.py`, which needs the database: `verdict.py` runs it).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

PENDING, PROCESSING, COMPLETED, FAILED = "PENDING", "PROCESSING", "COMPLETED", "FAILED"
CANCELLED, SKIPPED, ABANDONED = "CANCELLED", "SKIPPED", "ABANDONED"
FINAL = frozenset({COMPLETED, CANCELLED, SKIPPED, ABANDONED})
FENCING_CODES = frozenset({"WORKER_LOST", "JOB_STUCK"})

# (state before, event type) → state after: CONTRACT.md's job state machine, event by event.
TRANSITIONS: dict[tuple[str | None, str], str] = {
    (None, "JobSubmitted"): PENDING,
    (PENDING, "JobStarted"): PROCESSING,
    (PENDING, "JobCancelled"): CANCELLED,
    (PENDING, "JobSkipped"): SKIPPED,
    (PROCESSING, "JobProgressed"): PROCESSING,
    (PROCESSING, "JobStuck"): PROCESSING,
    (PROCESSING, "JobCompleted"): COMPLETED,
    (PROCESSING, "JobFailed"): FAILED,
    (PROCESSING, "JobCancelled"): CANCELLED,
    (FAILED, "JobRetried"): PENDING,
    (FAILED, "JobAbandoned"): ABANDONED,
    **{(state, "JobRetried"): PENDING for state in FINAL},
}


@dataclass
class History:
    jobs: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    illegal: list[str] = field(default_factory=list)
    disordered: list[int] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)
    reports: int = 0
    extra_emails: list[str] = field(default_factory=list)
    missing_emails: list[str] = field(default_factory=list)
    read_model: list[str] = field(default_factory=list)  # where the projection and the replay differ

    @property
    def figures(self) -> dict[str, int]:
        return {
            "jobs": self.jobs,
            "lost": len(self.lost),
            "duplicated": len(self.duplicates),
            "illegal": len(self.illegal),
            "disordered": len(self.disordered),
            "torn": len(self.torn),
            "reports": self.reports,
            "extra_emails": len(self.extra_emails),
            "missing_emails": len(self.missing_emails),
            "read_model_differs": len(self.read_model),
        }

    def assert_sound(self) -> None:
        problems = {k: v for k, v in self.figures.items() if k not in ("jobs", "reports") and v}
        assert not problems, f"{problems}: {self}"


def check(events: Iterable[Mapping[str, Any]], mails: Iterable[Message] = (), *, paused: bool = False) -> History:
    history = History()
    ordered = list(events)
    positions = [int(e["position"]) for e in ordered]
    history.disordered = [p for p, q in itertools.pairwise(positions) if q <= p]
    by_job: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for event in ordered:
        if event["aggregate_type"] == "job":
            by_job[event["aggregate_id"]].append(event)
    history.jobs = len(by_job)
    history.torn = _torn(ordered)
    for job_uuid, job_events in by_job.items():
        _check_job(history, job_uuid, job_events, paused)
    _check_mails(history, ordered, list(mails))
    return history


def _torn(events: list[Mapping[str, Any]]) -> list[str]:
    """Jobs and batches whose stored versions do not run 1, 2, 3, ... (where the log carries versions)."""
    versions: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event["aggregate_type"] in ("job", "batch") and "aggregate_version" in event:
            versions[event["aggregate_id"]].append(int(event["aggregate_version"]))
    return [aggregate for aggregate, seen in versions.items() if seen != list(range(1, len(seen) + 1))]


def _check_job(history: History, job_uuid: str, events: list[Mapping[str, Any]], paused: bool) -> None:
    state: str | None = None
    completed: Counter[int] = Counter()
    fenced: set[int] = set()
    for event in events:
        kind, data = event["type"], event.get("data", {})
        after = TRANSITIONS.get((state, kind))
        if after is None:
            history.illegal.append(f"{job_uuid}: {kind} from {state}")
            continue
        attempt = data.get("attempt")
        if kind == "JobCompleted":
            completed[attempt] += 1
            if completed[attempt] > 1 or attempt in fenced:
                history.duplicates.append(f"{job_uuid}: completed attempt {attempt} again or after its fence")
        if kind == "JobFailed" and (data.get("error") or {}).get("code") in FENCING_CODES:
            fenced.add(attempt)
        state = after
    # FAILED waits for an admin (max_attempts 1) and is settled for the batch; PENDING only while paused.
    if state not in FINAL and state != FAILED and not (paused and state == PENDING):
        history.lost.append(f"{job_uuid}: left {state}")


def _check_mails(history: History, events: list[Mapping[str, Any]], mails: list[Message]) -> None:
    bodies: dict[str, set[str]] = defaultdict(set)
    for mail in mails:
        payload = mail.get_payload(decode=False)
        bodies[str(mail["Message-ID"])].add(str(payload))
    history.extra_emails = [mid for mid, versions in bodies.items() if len(versions) > 1]
    # An update report with no changed job records BatchReported but sends nothing (CONTRACT.md).
    sent = [
        e
        for e in events
        if e["type"] == "BatchReported" and (e["data"].get("kind") == "initial" or e["data"].get("changed"))
    ]
    history.reports = len(sent)
    recorded_ids = {str(e["data"].get("message_id")) for e in sent if e["data"].get("message_id")}
    history.missing_emails = sorted(recorded_ids - set(bodies))
