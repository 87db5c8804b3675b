"""How the demo shows itself: a live table on a terminal, a line per state change anywhere else, and the summary."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import TextIO

from services.cli.demo.case import Case


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
