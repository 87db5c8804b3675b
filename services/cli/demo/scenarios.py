"""The four use cases of seeds 000 and 001, and what a use case can do: submit, command, wait, read mail.

Each use case is its own batch of three jobs, submitted and administered over
the bus exactly as `batchq submit` / `batchq retry` do over RabbitMQ; each
ends by judging what it saw against what the seeds say.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from services.adapters import ask
from services.adapters.bus import Bus
from services.adapters.store import EventStore
from services.cli.demo.case import Case
from services.cli.demo.display import Display
from services.cli.demo.mails import Mail, read_mails
from services.cli.demo.watcher import CASE_TIMEOUT_SECONDS, TimedOutError, Watcher

# The dispatcher counts a batch's unsettled jobs in its own view, which hears of
# an outcome through the relay a moment after the store has it: update_reporting
# sent the instant a job settles can be refused for that moment.
NOT_YET_SETTLED = "still running or queued"
RESEND_SECONDS, RESENDS = 0.1, 30


class System(Protocol):
    store: EventStore
    bus: Bus
    store_path: Path
    mail_folder: Path


class Demo:
    """What a use case can do: submit, send admin commands, wait for states, read its emails."""

    def __init__(self, system: System, display: Display) -> None:
        self.system = system
        self.display = display
        self.watcher = Watcher(system.store, display)

    async def submit(self, case: Case) -> None:
        self.watcher.watch(case)
        code, reply = await ask.submit(self.system.bus, case.submission())
        answer = "ok" if code == 0 else _error(reply)
        self.display.say(case, f"submitted batch {case.batch_id} (3 jobs): {answer}")
        case.expect(code == 0, f"submission refused: {answer}")

    async def command(self, case: Case, name: str, **fields: Any) -> bool:
        label = f"{name} job 3" if "job_uuid" in fields else name
        case.timeline.append(f"[{label}]")
        for _ in range(RESENDS):
            code, reply = await ask.send_command(self.system.bus, {"command": name, **fields})
            if code == 0 or NOT_YET_SETTLED not in _error(reply):
                break
            self.display.say(case, f"admin {label}: refused for now ({_error(reply)}); again")
            await asyncio.sleep(RESEND_SECONDS)
        self.display.say(case, f"admin {label}: " + ("ok" if code == 0 else _error(reply)))
        case.expect(code == 0, f"{name} refused: {_error(reply)}")
        return code == 0

    async def reach(self, case: Case, status: str, *, since: int = 0) -> None:
        """Wait until the batch is in `status`, having entered it at or after `history[since]`."""

        def reached() -> bool:
            return case.status == status and status in case.history[since:]

        await self.watcher.until(reached, f"batch {status}")

    async def settles(self, case: Case, index: int, attempt: int) -> None:
        job_uuid = case.job_uuids[index]

        def settled() -> bool:
            done = case.jobs[job_uuid] in ("COMPLETED", "FAILED")
            return done and case.attempts.get(job_uuid, 0) >= attempt

        await self.watcher.until(settled, f"job {index + 1} to settle on attempt {attempt}")

    def mails(self, case: Case) -> list[Mail]:
        mine = str(case.batch_id)
        case.mails = [m for m in read_mails(self.system.mail_folder) if m.batch_id == mine]
        return case.mails


def _error(reply: dict[str, Any]) -> str:
    error = reply.get("error") or {}
    return f"{error.get('code')}: {error.get('reason')}"


def _in_order(history: list[str], wanted: list[str]) -> bool:
    remaining = iter(history)
    return all(state in remaining for state in wanted)


# -- the use cases ----------------------------------------------------------------


def _check_first_report(case: Case, mails: list[Mail], outcome: str) -> None:
    case.expect(
        _in_order(case.history, ["PROCESSING", "REPORTING", outcome]),
        f"batch went {' → '.join(case.history)}, not PROCESSING → REPORTING → {outcome}",
    )
    first = mails[0].subject if mails else ""
    case.expect(
        outcome in first and str(case.batch_id) in first,
        f"no {outcome} report naming the batch (got {[m.subject for m in mails]})",
    )


async def successful_batch(demo: Demo, case: Case) -> None:
    await demo.submit(case)
    await demo.reach(case, "COMPLETED")
    mails = demo.mails(case)
    _check_first_report(case, mails, "COMPLETED")
    case.expect([case.job(i) for i in range(3)] == ["COMPLETED"] * 3, "not every job COMPLETED")
    case.expect(len(mails) == 1, f"{len(mails)} emails; the seed says one")


async def failed_batch(demo: Demo, case: Case) -> None:
    await demo.submit(case)
    await demo.reach(case, "FAILED")
    mails = demo.mails(case)
    _check_first_report(case, mails, "FAILED")
    jobs = [case.job(i) for i in range(3)]
    case.expect(jobs == ["COMPLETED", "COMPLETED", "FAILED"], f"jobs ended {jobs}")
    code, reason = case.third_job["params"]["code"], case.third_job["params"]["reason"]
    body = mails[0].body if mails else ""
    case.expect(code in body and reason in body, "the report does not name job 3's error")
    case.expect(len(mails) == 1, f"{len(mails)} emails; the seed says one")


async def _fail_then_retry(demo: Demo, case: Case, outcome: str) -> int:
    """Submit, wait for FAILED, retry job 3 until it settles again; return len(history) then."""
    await demo.submit(case)
    await demo.reach(case, "FAILED")
    _check_first_report(case, demo.mails(case), "FAILED")
    mark, seen = len(case.history), len(case.seen)
    job_uuid = str(case.job_uuids[2])
    if await demo.command(case, "retry_job", job_uuid=job_uuid, reason="demo: retry job 3"):
        await demo.settles(case, 2, attempt=2)
        case.timeline.append(f"job 3 {case.job(2)}")
    rerun = [(status, batch) for index, status, batch in case.seen[seen:] if index == 2]
    case.expect(
        rerun[-2:] == [("PROCESSING", "FAILED"), (outcome, "FAILED")],
        f"job 3 did not re-run to {outcome} while the batch stayed FAILED: {rerun}",
    )
    case.expect_went(mark, [], "the retry")
    return len(case.history)


async def successful_retry(demo: Demo, case: Case) -> None:
    mark = await _fail_then_retry(demo, case, "COMPLETED")
    if await demo.command(case, "update_reporting", batch_id=str(case.batch_id)):
        await demo.reach(case, "COMPLETED", since=mark)
    case.expect_went(mark, ["UPDATE_REPORTING", "COMPLETED"], "update_reporting")
    mails = demo.mails(case)
    case.expect(len(mails) == 2, f"{len(mails)} emails; the seed says two: report, update")
    update = mails[-1] if len(mails) == 2 else None
    subject = update.subject if update else ""
    case.expect(subject.startswith("Update:") and "COMPLETED" in subject, "no update saying COMPLETED")
    changed = update.changed if update else []
    case.expect(changed == [str(case.job_uuids[2])], f"the update names {changed}, not job 3")


async def unsuccessful_retry(demo: Demo, case: Case) -> None:
    mark = await _fail_then_retry(demo, case, "FAILED")
    if await demo.command(case, "update_reporting", batch_id=str(case.batch_id)):
        await demo.reach(case, "FAILED", since=mark)
    case.expect_went(mark, ["UPDATE_REPORTING", "FAILED"], "update_reporting")
    sent = len(demo.mails(case))
    case.expect(sent == 1, f"{sent} emails; nothing changed, so the seed says one")
    if await demo.command(case, "delete_batch", batch_id=str(case.batch_id)):
        await demo.reach(case, "DELETED")
    case.expect(case.status == "DELETED", f"the batch is {case.status}, not DELETED")


Play = Callable[[Demo, Case], Awaitable[None]]


def cases() -> list[tuple[Case, Play]]:
    """The four seed use cases, fresh ids. Job 1 sleeps 1 s, job 2 is a no-op, job 3 varies."""
    corrupt = {"code": "CORRUPT_PAYLOAD", "reason": "checksum mismatch in item 3"}
    gone = {"code": "SOURCE_GONE", "reason": "the source file was deleted"}
    flaky = {"handler": "flaky", "params": {"fail_times": 1}, "max_attempts": 1}
    return [
        (Case("a", "successful batch", {"handler": "sleep", "params": {"seconds": 0.5}}),
         successful_batch),
        (Case("b", "failed batch", {"handler": "fail", "params": corrupt}), failed_batch),
        (Case("c", "failed, retry succeeds", flaky), successful_retry),
        (Case("d", "failed, retry fails", {"handler": "fail", "params": gone}), unsuccessful_retry),
    ]  # fmt: skip


async def _play(demo: Demo, case: Case, play: Play) -> None:
    try:
        await play(demo, case)
    except TimedOutError as error:
        case.problems.append(f"timed out after {CASE_TIMEOUT_SECONDS:.0f}s waiting for {error}")
    demo.mails(case)


async def run(system: System, out: TextIO) -> int:
    """Play the four use cases at once, live; list the reports; judge. 0 if all match the seeds."""
    started = time.monotonic()
    plays = cases()
    every = [case for case, _ in plays]
    display = Display(out, every, started)
    out.write(
        "batchq demo: the four use cases of seeds 000 and 001, each a batch of 3 jobs, through\n"
        f"the real dispatcher, worker and reporter on the embedded store {system.store_path}\n\n"
    )
    demo = Demo(system, display)
    watching = asyncio.create_task(demo.watcher.run())
    refusals = io.StringIO()  # `admin` prints refusals on stderr; the display shows them in place
    try:
        with contextlib.redirect_stderr(refusals):
            await asyncio.gather(*(_play(demo, case, play) for case, play in plays))
    finally:
        watching.cancel()
        lines = refusals.getvalue().splitlines(keepends=True)
        sys.stderr.writelines(line for line in lines if not line.startswith("refused:"))
    display.finish()
    display.summary(every, system.mail_folder, time.monotonic() - started)
    return 0 if all(not case.problems for case in every) else 1
