"""The soak: many jobs, random faults from the fault tests' list, then the checker's figures as JSON.

    python -m tests.faults.soak --jobs 10000 --faults 20 [--seed N] [--workers 2]

Everything runs on servers of its own (`tests/faults/private_servers.py`): a RabbitMQ
node, a PostgreSQL cluster, an SMTP sink, and real `batchq run` processes (a
dispatcher, workers, a reporter). The jobs come as one batch per fault; each fault is
injected while its batch runs, and each fault function returns once the faulty part
is back (the services must recover by themselves: nobody restarts them but the
faults that kill them). At the end every batch must complete; the history checker
(`tests/faults/checker.py`) reads the whole event log and the mails. The exit status
is 0 when it found nothing (lost, duplicated, illegal, disordered, torn, extra or
missing emails all 0), else 1. `tests/faults/test_soak.py` runs a small one in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.cli import Cli, job, submission
from tests.e2e.conftest import FAST_TIMINGS
from tests.e2e.mail import reports_for
from tests.e2e.outages import drop_database_connections
from tests.e2e.processes import Processes
from tests.faults.checker import FENCING_CODES, check
from tests.faults.private_servers import PrivatePostgres, PrivateRabbit
from tests.faults.read_model import read_model_differences
from tests.servers import with_path
from tests.threaded_servers import SmtpServer

VHOST = "soak"


@dataclass
class Stack:
    rabbit: PrivateRabbit
    postgres: PrivatePostgres
    database_url: str
    processes: Processes
    cli: Cli
    smtp: SmtpServer
    workers: list[str]


def _restart(stack: Stack, name: str) -> None:
    stack.processes.kill(name, signal.SIGKILL)
    stack.processes.start(name, timeout=60)


def _terminate_sessions(stack: Stack) -> None:
    drop_database_connections(stack.database_url)


def _rabbit_stall(stack: Stack) -> None:
    stack.rabbit.stall()
    try:
        time.sleep(12)  # six 2 s heartbeats: past aiormq's (2 + 1) x 3 s grace
    finally:
        stack.rabbit.resume()


def _rabbit_kill(stack: Stack) -> None:
    stack.rabbit.kill()
    time.sleep(1)
    stack.rabbit.start()


def _rabbit_app(stack: Stack) -> None:
    stack.rabbit.stop_app()
    time.sleep(2)
    stack.rabbit.start_app()


FAULTS: dict[str, Callable[[Stack], None]] = {
    "rabbitmq stop_app/start_app": _rabbit_app,
    "rabbitmq SIGKILL + restart": _rabbit_kill,
    "rabbitmq SIGSTOP 12 s": _rabbit_stall,
    "rabbitmq connections closed": lambda s: s.rabbit.ctl("close_all_connections", "-p", VHOST, "soak"),
    "postgresql restart -m fast": lambda s: s.postgres.restart("fast"),
    "postgresql sessions terminated": lambda s: _terminate_sessions(s),
    "worker SIGKILL + restart": lambda s: _restart(s, random.choice(s.workers)),
    "dispatcher SIGKILL + restart": lambda s: _restart(s, "dispatcher"),
    "reporter SIGKILL + restart": lambda s: _restart(s, "reporter"),
}


@contextmanager
def running_stack(base: Path, workers: int) -> Iterator[Stack]:
    """Private servers, a migrated database, and the services running on them; all stopped afterwards."""
    with ExitStack() as cleanup:
        (base / "rabbitmq").mkdir(parents=True)
        rabbit = PrivateRabbit(base / "rabbitmq")
        cleanup.callback(rabbit.stop)
        rabbit.start()
        rabbit.ctl("add_vhost", VHOST)
        rabbit.ctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
        postgres = PrivatePostgres()
        cleanup.callback(postgres.destroy)
        postgres.start()
        database_url = with_path(postgres.admin_url, "postgres")
        smtp = SmtpServer().start()
        cleanup.callback(smtp.stop)
        env = {
            **os.environ,
            **FAST_TIMINGS,
            "BATCHQ_DATABASE_URL": database_url,
            "BATCHQ_AMQP_URL": with_path(rabbit.amqp_url, VHOST) + "?heartbeat=2",
            "BATCHQ_SMTP_URL": smtp.url,
            "BATCHQ_MAIL_FROM": "batchq-soak@localhost",
            "BATCHQ_WORKER_CONCURRENCY": "8",
            "PYTHONUNBUFFERED": "1",
        }
        cli = Cli(env, base)
        cli.ok("migrate")
        (base / "logs").mkdir()
        processes = Processes(env, base / "logs")
        cleanup.callback(processes.stop_all)
        names = [f"worker-{n}" for n in range(1, workers + 1)]
        processes.start_many("dispatcher", *names, "reporter")
        yield Stack(rabbit, postgres, database_url, processes, cli, smtp, names)


def soak(stack: Stack, jobs: int, faults: int, rng: random.Random) -> dict[str, Any]:
    """One batch per fault, the fault injected while its batch runs; then the checker's verdict."""
    started = time.monotonic()
    sizes = [jobs // faults + (1 if n < jobs % faults else 0) for n in range(faults)]
    batches: list[str] = []
    injected: Counter[str] = Counter()
    for size in sizes:
        doc = submission([job("sleep", params={"seconds": 0.02}) for _ in range(size)])
        stack.cli.submit(doc)
        batches.append(doc["batch_id"])
        time.sleep(rng.uniform(0.5, 3.0))
        name = rng.choice(sorted(FAULTS))
        FAULTS[name](stack)
        injected[name] += 1
    unfinished = []
    for batch_id in batches:
        try:
            stack.cli.wait_for_batch(batch_id, "COMPLETED", timeout=300)
        except AssertionError as error:
            unfinished.append(str(error).splitlines()[-1])
    events = stack.cli.events()
    mails = stack.smtp.messages
    history = check(events, mails)
    history.read_model = read_model_differences(
        stack.cli.env["BATCHQ_DATABASE_URL"], stack.cli.env.get("BATCHQ_DATABASE_SCHEMA", "public")
    )
    completions = Counter(e["aggregate_id"] for e in events if e["type"] == "JobCompleted")
    emails = [len({str(m["Message-ID"]) for m in reports_for(mails, b)}) for b in batches]
    fenced = sum(1 for e in events if e["type"] == "JobFailed" and e["data"]["error"]["code"] in FENCING_CODES)
    return {
        **history.figures,
        "submitted": jobs,
        "completed_once": sum(1 for n in completions.values() if n == 1),
        "batches": len(batches),
        "unfinished_batches": unfinished,
        "emails_per_report_max": max(emails, default=0),
        "attempts_fenced": fenced,
        "faults": dict(injected),
        "seconds": round(time.monotonic() - started, 1),
    }


def sound(figures: dict[str, Any]) -> bool:
    bad = ("lost", "duplicated", "illegal", "disordered", "torn", "extra_emails", "missing_emails")
    bad += ("read_model_differs",)
    return (
        not any(figures[k] for k in bad)
        and not figures["unfinished_batches"]
        and figures["completed_once"] == figures["submitted"]
        and figures["emails_per_report_max"] == 1
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--faults", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    random.seed(seed)  # the worker a fault kills, too
    base = Path(tempfile.mkdtemp(prefix="batchq-soak-"))
    with running_stack(base, args.workers) as stack:
        figures = soak(stack, args.jobs, args.faults, random.Random(seed))
    figures = {"seed": seed, "logs": str(base / "logs"), **figures}
    print(json.dumps(figures, indent=2))
    return 0 if sound(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
