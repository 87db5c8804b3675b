"""py-spy around a benchmark run: record collapsed stacks per process, then summarise them.

`Recorder` attaches `py-spy record --format raw` (collapsed stacks, one line per distinct
stack with its sample count) to each pid, and stops it with SIGINT so that it writes its
file. `summarise` turns a file into the functions with the most samples on-CPU (self) and
the most samples anywhere in the stack (inclusive); with the sampling rate and the number
of jobs, samples become CPU milliseconds per job. With `svg=True` a second py-spy on the
same pid writes an SVG flame graph for people (`--nonblocking`: neither pauses the target);
the collapsed file itself opens in https://www.speedscope.app or flamegraph.pl.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.infra import BIN

RATE = 100  # samples per second: py-spy falls behind at 200 with several targets on 2 cores


@dataclass
class Recorder:
    out_dir: Path
    rate: int = RATE
    svg: bool = False  # a second py-spy per process writing a flame graph: doubles the overhead
    running: dict[str, tuple[subprocess.Popen[bytes], Path]] = field(default_factory=dict)

    def start(self, name: str, pid: int, *, subprocesses: bool = False) -> None:
        formats = [("raw", "collapsed.txt")] + ([("flamegraph", "svg")] if self.svg else [])
        for fmt, suffix in formats:
            out = self.out_dir / f"{name}.{suffix}"
            argv = [str(BIN / "py-spy"), "record", "--pid", str(pid), "--rate", str(self.rate),
                    "--format", fmt, "--nonblocking", "--threads", "-o", str(out)]
            if subprocesses:
                argv.append("--subprocesses")
            log = (self.out_dir / f"{name}.{fmt}.py-spy.log").open("wb")
            self.running[f"{name}.{fmt}"] = (subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), out)
            log.close()

    def pids(self) -> dict[str, int]:
        """py-spy's own processes, so that their CPU can be counted apart."""
        return {f"py-spy.{name}": popen.pid for name, (popen, _) in self.running.items()}

    def stop(self) -> dict[str, Path]:
        for popen, _ in self.running.values():
            if popen.poll() is None:
                popen.send_signal(signal.SIGINT)
        files = {}
        for name, (popen, out) in self.running.items():
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
            if out.exists() and name.endswith(".raw"):
                files[name.removesuffix(".raw")] = out
        self.running.clear()
        time.sleep(0.1)
        return files


def _package(path: str) -> str:
    """The package of a source file as py-spy names it (relative to sys.path): `aiormq`,
    `eventsourcing`, `asyncio`, and ours as `services/worker`, `domain`…"""
    parts = path.split("/")
    if "site-packages" in parts:  # a full path, when py-spy could not shorten it
        parts = parts[parts.index("site-packages") + 1:]
    if parts[0] == "services" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py")


def _frames(stack: str) -> list[tuple[str, str]]:
    """(`function (dir/file)`, package) per frame of one collapsed line, outermost first.

    With `--threads` the first frame is the thread, `thread (tid): name`; it becomes `thread name`.
    """
    frames = []
    for frame in stack.split(";"):
        if frame.startswith("thread (") and "): " in frame:
            frames.append(("thread " + frame.split("): ", 1)[1].rstrip("_0123456789"), "thread"))
            continue
        name, _, where = frame.partition(" (")
        path = where.rstrip(")").rsplit(":", 1)[0]
        short = "/".join(path.split("/")[-2:]) if path else ""
        frames.append((f"{name} ({short})" if short else name, _package(path) if path else name))
    return frames


# Frames that run everything and say nothing: left out of the inclusive ranking.
GENERIC = {"asyncio", "threading", "services/cli", "concurrent", "thread", "batchq", "runpy", "selectors",
           "<frozen runpy>"}
# The frame after one of these is what an event-loop callback or a pool thread was asked to run.
DISPATCHERS = ("Handle._run (asyncio/events.py)", "_WorkItem.run (concurrent/futures/thread.py)",
               "_WorkItem.run (futures/thread.py)")


# Leaf frames where a thread waits rather than computes. py-spy's idle filter (thread state
# from /proc) lets some of these through on a busy 2-core machine; they are counted apart.
WAITING = ("EpollSelector.select (", "_worker (concurrent/futures/thread.py)", "_worker (futures/thread.py)",
           "Connection.wait (psycopg/", "Condition.wait (", "Event.wait (", "wait (psycopg/waiting.py)")


def _entry(frames: list[tuple[str, str]]) -> str:
    """The task or submitted function a stack belongs to (the frame after the loop/pool)."""
    for i, (name, _) in enumerate(frames):
        if name in DISPATCHERS:
            return frames[i + 1][0] if i + 1 < len(frames) else f"{name} itself"
    if frames and frames[-1][0].startswith("EpollSelector.select"):
        return "event loop: select()"
    return frames[-1][0] if frames else "?"


def summarise(path: Path, jobs: int, rate: int = RATE, top: int = 25) -> dict[str, object]:
    """Top self and inclusive functions of one collapsed-stack file, in samples, % and ms per job."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = _frames(stack)
        thread = "?"
        if frames and frames[0][1] == "thread":
            thread = frames[0][0]
            frames = frames[1:]
        threads[thread] += count
        if frames and frames[-1][0].startswith(WAITING):
            waiting[f"{thread}: {frames[-1][0]}"] += count
        if frames:
            self_counts[frames[-1][0]] += count
            packages[frames[-1][1]] += count
            entries[f"{thread}: {_entry(frames)}"] += count
        for name in {f for f, pkg in frames if pkg not in GENERIC and not f.startswith("<module>")}:
            incl_counts[name] += count

    def rows(counter: Counter[str]) -> list[dict[str, object]]:
        return [
            {"function": name, "samples": n, "percent": round(100 * n / max(total, 1), 1),
             "ms_per_job": round(1000 * n / rate / max(jobs, 1), 4)}
            for name, n in counter.most_common(top)
        ]

    waited = sum(waiting.values())
    return {
        "samples": total,
        "waiting_samples": waited,
        "waiting": rows(waiting),
        "busy_ms_per_job": round(1000 * (total - waited) / rate / max(jobs, 1), 4),
        "cpu_seconds_sampled": round(total / rate, 2),
        "ms_per_job": round(1000 * total / rate / max(jobs, 1), 4),
        "self": rows(self_counts),
        "inclusive": rows(incl_counts),
        "self_by_package": rows(packages),
        "by_entry": rows(entries),
        "threads": {k: round(1000 * v / rate / max(jobs, 1), 4) for k, v in threads.most_common(10)},
    }


def print_summary(name: str, summary: dict[str, object], lines: int = 12) -> None:
    print(f"  py-spy {name}: {summary['samples']} samples = {summary['cpu_seconds_sampled']} s (all threads),"
          f" {summary['ms_per_job']} ms/job; less {summary['waiting_samples']} samples in waits"
          f" (select, psycopg wait, idle pool threads) = {summary['busy_ms_per_job']} ms/job busy")
    print("    self (on-CPU leaf):")
    for row in summary["self"][:lines]:  # type: ignore[index]
        print(f"      {row['percent']:5.1f}%  {row['ms_per_job']:.4f} ms/job  {row['function']}")
    print("    self time by package: " + ", ".join(
        f"{row['function']} {row['percent']}%" for row in summary["self_by_package"][:10]))  # type: ignore[index]
    print("    ms/job by thread: " + ", ".join(f"{k} {v}" for k, v in summary["threads"].items()))  # type: ignore[attr-defined]
    print("    by task / submitted function (thread: entry):")
    for row in summary["by_entry"][:lines]:  # type: ignore[index]
        print(f"      {row['percent']:5.1f}%  {row['ms_per_job']:.4f} ms/job  {row['function']}")
    print("    inclusive (runtime frames left out):")
    for row in summary["inclusive"][:lines]:  # type: ignore[index]
        print(f"      {row['percent']:5.1f}%  {row['ms_per_job']:.4f} ms/job  {row['function']}")
