"""`batchq dev` as a user runs it: a real process, its inbox folder, kill -9 and a restart.

The embedded mode must recover exactly like the real services (a job running when
the process died is fenced off as WORKER_LOST and re-run; its dependents follow),
and its inbox must refuse what the broker path refuses (no guessed schema versions).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import REPO

pytestmark = pytest.mark.e2e


class Dev:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = {
            **os.environ,
            "BATCHQ_SCAN_SECONDS": "0.3",
            "BATCHQ_HEARTBEAT_SECONDS": "0.3",
            "BATCHQ_RETRY_BASE_SECONDS": "0.1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "dev", "--dir", str(self.directory)],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "dev.log").open("ab"),
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def drop(self, name: str, document: dict[str, object]) -> None:
        inbox = self.directory / "inbox"
        deadline = time.monotonic() + 20
        while not inbox.is_dir():
            assert time.monotonic() < deadline, "batchq dev made no inbox"
            time.sleep(0.05)
        (inbox / f".{name}").write_text(json.dumps(document))
        (inbox / f".{name}").rename(inbox / name)

    def reply(self, name: str, timeout: float = 20.0) -> dict[str, object]:
        path = self.directory / "inbox" / "done" / name.replace(".json", ".reply.json")
        deadline = time.monotonic() + timeout
        while not path.exists():
            assert time.monotonic() < deadline, f"no reply to {name}"
            time.sleep(0.05)
        time.sleep(0.05)
        return json.loads(path.read_text())

    def status(self, batch_id: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-m", "services.cli.main", "status", batch_id, "--json"],
            cwd=REPO,
            env={**self.env, "BATCHQ_DATABASE_URL": f"sqlite:///{self.directory / 'store.sqlite'}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def wait_for(self, batch_id: str, predicate: object, timeout: float = 60.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            doc = self.status(batch_id)
            if predicate(doc):  # type: ignore[operator]
                return doc
            assert time.monotonic() < deadline, f"batch {batch_id} never got there: {doc}"
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    running = Dev(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _submission(jobs: list[dict[str, object]]) -> dict[str, object]:
    return {
        "schema_version": 1,
        "batch_id": str(uuid.uuid4()),
        "tenant": "acme",
        "user_id": "depositor-7",
        "depositor_email": "depositor@example.org",
        "jobs": jobs,
    }


def test_a_job_running_when_batchq_dev_is_killed_completes_after_a_restart(dev: Dev) -> None:
    slow, after = str(uuid.uuid4()), str(uuid.uuid4())
    doc = _submission(
        [
            {"job_uuid": slow, "handler": "sleep", "params": {"seconds": 2}},
            {"job_uuid": after, "depends_on": [slow]},
        ]
    )
    dev.drop("batch.json", doc)
    assert dev.reply("batch.json")["ok"] is True
    dev.wait_for(doc["batch_id"], lambda d: d["jobs"][0]["status"] == "PROCESSING")  # type: ignore[index]

    dev.kill()
    dev.start()

    final = dev.wait_for(doc["batch_id"], lambda d: d["status"] == "COMPLETED")
    states = {j["job_uuid"]: (j["status"], j["attempts"]) for j in final["jobs"]}  # type: ignore[union-attr]
    assert states == {slow: ("COMPLETED", 2), after: ("COMPLETED", 1)}


def test_the_inbox_refuses_a_command_of_another_schema_version(dev: Dev) -> None:
    dev.drop("pause.json", {"schema_version": 2, "command": "pause_queue", "reason": "from the future"})
    reply = dev.reply("pause.json")
    assert reply["ok"] is False
    assert reply["error"]["code"] == "UNSUPPORTED_SCHEMA_VERSION"  # type: ignore[index]
