"""`batchq demo`: the four use cases of seeds 000 and 001, run live through the real services.

Each use case is its own batch of three jobs, submitted and administered over
the bus exactly as `batchq submit` / `batchq retry` do over RabbitMQ. States are
read back the way an auditor would: every event of the store, in order, folded
into batches and jobs, so no state is missed however fast it passes. At the end
the emails are read from the mail folder and each use case is judged against
what the seeds say.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import io
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import orjson

from services.adapters.bus import Bus
from services.adapters.store import EventStore
from services.cli import admin

CASE_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.02
# The dispatcher counts a batch's unsettled jobs in its own view, which hears of
# an outcome through the relay a moment after the store has it: update_reporting
# sent the instant a job settles can be refused for that moment.
NOT_YET_SETTLED = "still running or queued"
RESEND_SECONDS, RESENDS = 0.1, 30
CHANGED = "Changed since the last report:\n"


class System(Protocol):
    store: EventStore
    bus: Bus
    store_path: Path
    mail_folder: Path


@dataclass(frozen=True)
class Mail:
    path: Path
    batch_id: str
    subject: str
    body: str
    changed: list[str]  # job ids under "Changed since the last report"


def read_mails(folder: Path) -> list[Mail]:
    mails = []
    for path in sorted(folder.glob("*.eml")):
        msg: Any = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_content()
        changed = body.split(CHANGED, 1)[1].split("\n\n", 1)[0] if CHANGED in body else ""
        job_ids = [line.split()[0] for line in changed.splitlines() if line.strip()]
        mails.append(Mail(path, str(msg["X-Batchq-Batch-Id"]), str(msg["Subject"]), body, job_ids))
    return mails


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


class Display:
    """A table rewritten in place on a terminal; a line per state change anywhere else."""

    def __init__(self, out: TextIO, cases: list[Case], started: float) -> None:
        self.out = out
        self.cases = cases
        self.started = started
        self.tty = out.isatty()
        self.drawn = 0
        self.recent: list[str] = []

    def change(self, case: Case, subject: str, status: str, note: str = "") -> None:
        self.say(case, f"{subject:6} → {status}" + (f"  ({note})" if note else ""))

    def say(self, case: Case, text: str) -> None:
        line = f"{time.monotonic() - self.started:6.2f}s  {case.name:26}  {text}"
        if not self.tty:
            print(line, file=self.out, flush=True)
            return
        self.recent = [*self.recent, line][-5:]
        self._draw()

    def table(self) -> list[str]:
        rows = [("use case", "batch", "job 1", "job 2", "job 3")]
        rows += [(c.name, c.status, c.job(0), c.job(1), c.job(2)) for c in self.cases]
        return [f"  {n:26}  {b:17}{j1:11}{j2:11}{j3:11}" for n, b, j1, j2, j3 in rows]

    def _draw(self) -> None:
        width = shutil.get_terminal_size((100, 24)).columns - 1  # a wrapped line breaks the redraw
        lines = [line[:width] for line in (*self.table(), "", *self.recent)]
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F")  # back to the table's first line
        self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self.drawn = len(lines)

    def finish(self) -> None:
        if not self.tty:
            print("", *self.table(), sep="\n", file=self.out)

    def summary(self, cases: list[Case], folder: Path, seconds: float) -> None:
        say = self.out.write
        mails = [(case, mail) for case in cases for mail in case.mails]
        say(f"\nReports: {len(mails)} emails, .eml files in {folder}/\n")
        for case, mail in mails:
            say(f"  ({case.key})  {mail.path.name}  {mail.subject!r}\n")
            for job_uuid in mail.changed:
                now = case.jobs.get(uuid.UUID(job_uuid))
                say(f"         changed since the last report: {case.label(job_uuid)}, now {now}\n")
        say("\nAgainst the seeds:\n")
        for case in cases:
            emails = f"{len(case.mails)} email" + ("" if len(case.mails) == 1 else "s")
            detail = "; ".join(case.problems) or f"{' → '.join(case.timeline)}; {emails}"
            say(f"  {'FAIL' if case.problems else 'PASS'}  {case.name}: {detail}\n")
        passed = sum(1 for case in cases if not case.problems)
        say(f"\n{passed} of {len(cases)} use cases match the seeds, in {seconds:.1f}s.\n")
        self.out.flush()


class TimedOutError(Exception):
    """A use case waited too long for a state: names what it waited for."""


class Watcher:
    """Folds every stored event, in store order, into batches and jobs, and reports changes."""

    def __init__(self, store: EventStore, display: Display) -> None:
        self.store = store
        self.display = display
        self.position = 0
        self.aggregates: dict[uuid.UUID, Any] = {}
        self.cases: dict[uuid.UUID, tuple[Case, int | None]] = {}  # id -> (case, job index)
        self.changed = asyncio.Condition()

    def watch(self, case: Case) -> None:
        self.cases[case.batch_id] = (case, None)
        for index, job_uuid in enumerate(case.job_uuids):
            self.cases[job_uuid] = (case, index)

    async def run(self) -> None:
        while True:
            records = await asyncio.to_thread(self.store.read, self.position, 1000)
            for record in records:
                self._fold(record.event)
                self.position = record.position
            if records:
                async with self.changed:
                    self.changed.notify_all()
            await asyncio.sleep(POLL_SECONDS)

    def _fold(self, event: Any) -> None:
        aggregate = event.mutate(self.aggregates.get(event.originator_id))
        self.aggregates[event.originator_id] = aggregate
        if event.originator_id not in self.cases:
            return
        case, index = self.cases[event.originator_id]
        status = aggregate.status.value
        if index is None:
            if status != case.status:
                case.status = status
                case.history.append(status)
                case.timeline.append(status)
                self.display.change(case, "batch", status)
            return
        job_uuid = case.job_uuids[index]
        case.attempts[job_uuid] = aggregate.attempts
        if status != case.jobs.get(job_uuid):
            case.jobs[job_uuid] = status
            case.seen.append((index, status, case.status))
            error = aggregate.error if status == "FAILED" else None
            note = f"{error.code}: {error.reason}" if error else ""
            self.display.change(case, f"job {index + 1}", status, note)

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(CASE_TIMEOUT_SECONDS), self.changed:
                await self.changed.wait_for(predicate)
        except TimeoutError:
            raise TimedOutError(what) from None


class Demo:
    """What a use case can do: submit, send admin commands, wait for states, read its emails."""

    def __init__(self, system: System, display: Display) -> None:
        self.system = system
        self.display = display
        self.watcher = Watcher(system.store, display)

    async def submit(self, case: Case) -> None:
        self.watcher.watch(case)
        code, reply = await admin.submit(self.system.bus, case.submission())
        answer = "ok" if code == 0 else _error(reply)
        self.display.say(case, f"submitted batch {case.batch_id} (3 jobs): {answer}")
        case.expect(code == 0, f"submission refused: {answer}")

    async def command(self, case: Case, name: str, **fields: Any) -> bool:
        label = f"{name} job 3" if "job_uuid" in fields else name
        case.timeline.append(f"[{label}]")
        for _ in range(RESENDS):
            code, reply = await admin.send_command(self.system.bus, {"command": name, **fields})
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
