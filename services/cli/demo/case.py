"""One use case of the demo: its batch, what the demo saw of it, and what did not match the seeds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.cli.demo.mails import Mail


@dataclass
class Case:
    """One use case: its batch, what the demo saw of it, and what did not match the seeds."""

    key: str
    title: str
    third_job: dict[str, Any]
    batch_id: uuid.UUID = field(default_factory=uuid.uuid4)
    job_uuids: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4() for _ in range(3)])
    status: str = "-"
    history: list[str] = field(default_factory=list)  # every batch status, in order
    timeline: list[str] = field(default_factory=list)  # statuses and admin commands, for the summary
    jobs: dict[uuid.UUID, str] = field(default_factory=dict)
    attempts: dict[uuid.UUID, int] = field(default_factory=dict)
    seen: list[tuple[int, str, str]] = field(default_factory=list)  # (job index, status, batch's)
    mails: list[Mail] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"({self.key}) {self.title}"

    def expect(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def expect_went(self, since: int, states: list[str], after: str) -> None:
        went = self.history[since:]
        self.expect(went == states, f"after {after} the batch went {went}, not {' → '.join(states)}")

    def job(self, index: int) -> str:
        return self.jobs.get(self.job_uuids[index], "-")

    def label(self, job_uuid: str) -> str:
        known = [str(j) for j in self.job_uuids]
        return f"job {known.index(job_uuid) + 1}" if job_uuid in known else job_uuid

    def submission(self) -> bytes:
        first, second, third = (str(j) for j in self.job_uuids)
        jobs = [
            {"job_uuid": first, "handler": "sleep", "params": {"seconds": 1.0}},
            {"job_uuid": second, "handler": "noop"},
            {"job_uuid": third, **self.third_job},
        ]
        return orjson.dumps(
            {"schema_version": 1, "batch_id": str(self.batch_id), "tenant": "demo",
             "user_id": "depositor-7", "depositor_email": "depositor@example.org",
             "trace_id": f"demo-{self.key}", "jobs": jobs}
        )  # fmt: skip
