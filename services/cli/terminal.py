"""What the CLI draws on a terminal, with rich: `submit --wait`'s progress bar and `status`'s table.

Only on a terminal. Piped or redirected output, and `--json`, stay the plain
text of `views.py`, byte for byte: scripts and tests parse it. The cells are
the same either way (`views.status_rows`); only the drawing differs.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from services.cli import views


def print_status(doc: dict[str, Any], out: TextIO) -> None:
    """`batchq status` as a table drawn to the terminal's width."""
    heading = Text(views.status_heading(doc))
    table = Table(title=heading, title_justify="left", box=None, header_style="bold")
    for name in views.STATUS_COLUMNS:
        table.add_column(name, justify="right" if name in ("ATTEMPTS", "PROGRESS") else "left", no_wrap=name == "JOB")
    for row in views.status_rows(doc):
        table.add_row(*(Text(cell) for cell in row))  # an error's reason is text, never rich markup
    console = Console(file=out)
    console.print(table)
    if doc["reports"]:
        console.print()
        for line in views.report_lines(doc):
            console.print(line, markup=False, highlight=False)


class PlainProgress:
    """A line per change (settled count or status): what a log or a pipe gets."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()
        self.shown: tuple[int, str] = (-1, "")

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def show(self, settled: int, total: int, status: str) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        line = views.progress_line(settled, total, elapsed, status)
        if (settled, status) != self.shown:
            print(line, file=self.out, flush=True)
            self.shown = (settled, status)


class RichProgress:
    """rich's progress bar, redrawn in place: settled / total, rate, time left, the batch's status."""

    def __init__(self, out: TextIO) -> None:
        self.progress = Progress(
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}", markup=False),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}", markup=False),
            console=Console(file=out),
        )
        self.task: TaskID | None = None
        self.started = time.monotonic()

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()

    def show(self, settled: int, total: int, status: str) -> None:
        rate = f"{settled / max(time.monotonic() - self.started, 1e-6):,.0f} jobs/s"
        if self.task is None:
            self.task = self.progress.add_task("batch", total=total, completed=settled, rate=rate, status=status)
        self.progress.update(self.task, total=total, completed=settled, rate=rate, status=status)


def progress_display(out: TextIO) -> PlainProgress | RichProgress:
    """rich on a terminal, plain lines anywhere else."""
    return RichProgress(out) if out.isatty() else PlainProgress(out)
