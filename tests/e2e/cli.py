"""The `batchq` command line as the end-to-end tests use it: run, parse `--json`, poll.

Every call is a real `python -m services.cli.main ...` process with the test's environment, as
an admin or an auditor would run it; nothing here reaches into the services' code.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.processes import REPO

FINAL_BATCH_STATES = frozenset({"COMPLETED", "FAILED", "DELETED"})


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def __str__(self) -> str:
        return f"batchq {' '.join(self.args)} → exit {self.code}\nstdout: {self.stdout}\nstderr: {self.stderr}"


class Cli:
    def __init__(self, env: Mapping[str, str], work_dir: Path) -> None:
        self.env = dict(env)
        self.work_dir = work_dir

    def run(self, *args: str, timeout: float = 120.0) -> CliResult:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli.main", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(tuple(args), done.returncode, done.stdout, done.stderr)

    def run_into_closed_pipe(self, *args: str, lines: int = 1, timeout: float = 60.0) -> CliResult:
        """Run with stdout a pipe whose reader, like `| head -n LINES`, closes it after `lines` lines."""
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", *args],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stderr is not None
        read = [process.stdout.readline() for _ in range(lines)]
        process.stdout.close()
        stderr = process.stderr.read()
        return CliResult(tuple(args), process.wait(timeout=timeout), "".join(read), stderr)

    def ok(self, *args: str, timeout: float = 120.0) -> CliResult:
        """Run; AssertionError unless it exits 0."""
        result = self.run(*args, timeout=timeout)
        assert result.code == 0, str(result)
        return result

    # -- submissions ---------------------------------------------------------------------

    def submit(self, submission: Mapping[str, Any]) -> dict[str, Any]:
        """`batchq submit FILE`; the reply, which must be ok."""
        path = self.work_dir / f"submission-{uuid.uuid4().hex[:8]}.json"
        path.write_text(json.dumps(submission))
        reply = self.ok("submit", str(path)).json()
        assert reply["ok"] is True, reply
        return dict(reply)

    # -- reading -------------------------------------------------------------------------

    def status(self, batch_id: str, at: str | None = None) -> dict[str, Any]:
        args = ["status", batch_id, "--json"] + (["--at", at] if at else [])
        return dict(self.ok(*args).json())

    def events(
        self, *, batch_id: str | None = None, job_uuid: str | None = None, since: int | None = None
    ) -> list[dict[str, Any]]:
        args = ["events", "--json"]
        if batch_id:
            args += ["--batch", batch_id]
        if job_uuid:
            args += ["--job", job_uuid]
        if since is not None:
            args += ["--since", str(since)]
        return list(self.ok(*args).json_lines())

    # -- waiting -------------------------------------------------------------------------

    def wait_for_status(
        self,
        batch_id: str,
        until: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 60.0,
        what: str = "the condition",
        interval: float = 0.2,
    ) -> dict[str, Any]:
        """Poll `status --json` until `until(doc)`; AssertionError with the last doc on timeout."""
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        while True:
            doc = self.status(batch_id)
            if until(doc):
                return doc
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"batch {batch_id}: {what} not reached within {timeout} s; last status:\n{summary(doc)}"
                )
            time.sleep(interval)

    def wait_for_batch(self, batch_id: str, status: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Until the batch is in `status`; fails at once if it reaches another final state."""

        def reached(doc: dict[str, Any]) -> bool:
            if doc["status"] != status and doc["status"] in FINAL_BATCH_STATES and status in FINAL_BATCH_STATES:
                # A final state other than the one awaited: no point waiting, unless it may still move on
                # (a FAILED batch moves only by command, so this is the answer).
                raise AssertionError(f"batch {batch_id} is {doc['status']}, expected {status}:\n{summary(doc)}")
            return bool(doc["status"] == status)

        return self.wait_for_status(batch_id, reached, timeout=timeout, what=f"status {status}")

    def wait_for_events(
        self,
        until: Callable[[list[dict[str, Any]]], bool],
        *,
        batch_id: str | None = None,
        job_uuid: str | None = None,
        timeout: float = 60.0,
        what: str = "the events",
        interval: float = 0.2,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(batch_id=batch_id, job_uuid=job_uuid)
            if until(events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what} not recorded within {timeout} s; events so far:\n"
                    + "\n".join(event_line(e) for e in events[-40:])
                )
            time.sleep(interval)


# -- building submissions ------------------------------------------------------------------


def new_id() -> str:
    return str(uuid.uuid4())


def job(handler: str = "noop", job_uuid: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"job_uuid": job_uuid or new_id(), "handler": handler, **fields}


def submission(
    jobs: list[dict[str, Any]] | None = None,
    *,
    batch_id: str | None = None,
    tenant: str = "acme",
    user_id: str = "depositor-7",
    depositor_email: str = "depositor@example.org",
    **fields: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": 1,
        "batch_id": batch_id or new_id(),
        "tenant": tenant,
        "user_id": user_id,
        "depositor_email": depositor_email,
        **fields,
    }
    if jobs is not None:
        doc["jobs"] = jobs
    return doc


# -- reading status and events ---------------------------------------------------------------


def job_states(doc: Mapping[str, Any]) -> dict[str, str]:
    return {j["job_uuid"]: j["status"] for j in doc["jobs"]}


def job_doc(doc: Mapping[str, Any], job_uuid: str) -> dict[str, Any]:
    [found] = [j for j in doc["jobs"] if j["job_uuid"] == job_uuid]
    return dict(found)


def summary(doc: Mapping[str, Any]) -> str:
    if not doc:
        return "(none)"
    counts = Counter(j["status"] for j in doc.get("jobs", []))
    return f"batch {doc.get('batch_id')} {doc.get('status')} jobs {dict(counts)} reports {doc.get('reports')}"


def types_of(events: Iterable[Mapping[str, Any]], aggregate_id: str | None = None) -> list[str]:
    return [e["type"] for e in events if aggregate_id is None or e["aggregate_id"] == aggregate_id]


def of_type(
    events: Iterable[Mapping[str, Any]], event_type: str, aggregate_id: str | None = None
) -> list[dict[str, Any]]:
    return [
        dict(e)
        for e in events
        if e["type"] == event_type and (aggregate_id is None or e["aggregate_id"] == aggregate_id)
    ]


def count_per_aggregate(events: Iterable[Mapping[str, Any]], event_type: str) -> Counter[str]:
    return Counter(e["aggregate_id"] for e in events if e["type"] == event_type)


def position_of(events: Iterable[Mapping[str, Any]], event_type: str, aggregate_id: str | None = None) -> int:
    """The position of the first such event; AssertionError if there is none."""
    found = of_type(events, event_type, aggregate_id)
    assert found, f"no {event_type} event" + (f" of {aggregate_id}" if aggregate_id else "")
    return int(found[0]["position"])


def assert_positions_strictly_increase(events: list[Mapping[str, Any]]) -> None:
    positions = [e["position"] for e in events]
    assert all(a < b for a, b in itertools.pairwise(positions)), positions


def event_line(event: Mapping[str, Any]) -> str:
    data = event.get("data", {})
    detail = data.get("error", {}).get("code", "") if isinstance(data.get("error"), dict) else ""
    return f"{event['position']:>6} {event['occurred_at']} {event['type']:28} {event['aggregate_id']} {detail}"


def attempts_of(events: list[dict[str, Any]], job_uuid: str) -> dict[int, dict[str, Any]]:
    """Per attempt number: the worker that started it and how it ended (event type, error code)."""
    attempts: dict[int, dict[str, Any]] = {}
    for event in events:
        if event["aggregate_id"] != job_uuid or "attempt" not in event["data"]:
            continue
        entry = attempts.setdefault(event["data"]["attempt"], {"worker_id": None, "ends": []})
        if event["type"] == "JobStarted":
            entry["worker_id"] = event["data"]["worker_id"]
        elif event["type"] in ("JobCompleted", "JobFailed"):
            entry["ends"].append((event["type"], event["data"].get("error", {}).get("code")))
    return attempts


def unfinished_restarts(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Jobs that were started again while an earlier attempt had not ended (completed or failed)."""
    running: dict[str, bool] = defaultdict(bool)
    offenders: dict[str, list[str]] = {}
    for event in events:
        job_uuid = event["aggregate_id"]
        if event["type"] == "JobStarted":
            if running[job_uuid]:
                offenders.setdefault(job_uuid, []).append(event_line(event))
            running[job_uuid] = True
        elif event["type"] in ("JobCompleted", "JobFailed"):
            running[job_uuid] = False
    return offenders
