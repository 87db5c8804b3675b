"""`batchq demo` plays the four seed use cases through the real services, in-process.

No servers: the embedded adapters (SQLite store, in-process bus, mail folder).
One run of the demo is shared by the tests of this module: it takes a few seconds.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.adapters.settings import Settings
from services.cli import embedded
from services.cli.demo import Mail, read_mails


@dataclass(frozen=True)
class DemoRun:
    code: int
    output: str
    directory: Path
    mails: list[Mail]
    seconds: float


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    parent = tmp_path_factory.mktemp("demo")
    out = io.StringIO()
    started = time.monotonic()
    code = embedded.main("demo", parent, Settings(), out=out)
    seconds = time.monotonic() - started
    (directory,) = parent.glob("demo-*")
    return DemoRun(code, out.getvalue(), directory, read_mails(directory / "mail"), seconds)


def verdicts(output: str) -> dict[str, str]:
    """`(a)` → `PASS`, from the summary lines `  PASS  (a) successful batch: …`."""
    found = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("PASS", "FAIL") and words[1].startswith("("):
            found[words[1]] = words[0]
    return found


def test_demo_exits_zero_with_all_four_use_cases_matching_the_seeds(demo_run: DemoRun) -> None:
    assert demo_run.code == 0, demo_run.output
    assert verdicts(demo_run.output) == {"(a)": "PASS", "(b)": "PASS", "(c)": "PASS", "(d)": "PASS"}
    assert "4 of 4 use cases match the seeds" in demo_run.output


def test_demo_finishes_in_a_few_seconds(demo_run: DemoRun) -> None:
    assert demo_run.seconds < 10, f"the demo took {demo_run.seconds:.1f}s"


def test_demo_sends_four_reports_and_one_update(demo_run: DemoRun) -> None:
    subjects = sorted(mail.subject.split()[0] for mail in demo_run.mails)
    assert len(demo_run.mails) == 5, [m.subject for m in demo_run.mails]
    assert subjects.count("Update:") == 1
    assert len({mail.batch_id for mail in demo_run.mails}) == 4


def test_update_email_names_the_retried_job_alone(demo_run: DemoRun) -> None:
    (update,) = [m for m in demo_run.mails if m.subject.startswith("Update:")]
    (first,) = [m for m in demo_run.mails if m.batch_id == update.batch_id and m is not update]
    assert "COMPLETED" in update.subject and "FAILED" in first.subject
    (changed,) = update.changed
    # The job that changed is the one the first report gave as failed by `flaky`.
    failed_line = next(line for line in first.body.splitlines() if changed in line)
    assert "FAILED" in failed_line and "FLAKY" in failed_line
    assert "changed since the last report: job 3, now COMPLETED" in demo_run.output


def test_failed_report_names_the_failed_jobs_code_and_reason(demo_run: DemoRun) -> None:
    bodies = [m.body for m in demo_run.mails]
    assert any("CORRUPT_PAYLOAD: checksum mismatch in item 3" in body for body in bodies)


def test_demo_shows_every_state_change_when_not_on_a_terminal(demo_run: DemoRun) -> None:
    lines = [line for line in demo_run.output.splitlines() if re.match(r"\s*\d+\.\d\ds  ", line)]
    job_3 = [line for line in lines if "(c) failed, retry succeeds  job 3  →" in line]
    assert [line.split("→")[1].split()[0] for line in job_3] == [
        "PENDING", "PROCESSING", "FAILED", "PENDING", "PROCESSING", "COMPLETED"
    ]  # fmt: skip
    assert any("(d) failed, retry fails" in line and "batch  → DELETED" in line for line in lines)


def test_demo_keeps_the_services_logs_out_of_its_output(demo_run: DemoRun) -> None:
    assert "dispatcher_started" not in demo_run.output
    assert "dispatcher_started" in (demo_run.directory / "services.log").read_text()


def test_each_demo_gets_a_fresh_directory(tmp_path: Path) -> None:
    first = embedded.fresh_demo_directory(tmp_path)
    second = embedded.fresh_demo_directory(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()
