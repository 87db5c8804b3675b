"""End-to-end benchmark of batchq (and, with --celery, of a Celery chord doing the same work).

    /work/venv/bin/python -m bench.run [--jobs N] [--workers W] [--celery] [--scaling] [--profile]

batchq: a fresh database and vhost, `batchq migrate`, an SMTP sink in this process, and
`batchq run dispatcher|reporter|worker` (W workers) as subprocesses. ONE submission with N
inline noop jobs is published to `batchq.manifests`/`submit`; the clock runs from the
publish until the report email arrives. Per-job latency comes from the event store
afterwards. See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import aio_pika
import orjson
import psycopg

from bench import infra
from bench.profiling import Recorder, print_summary, summarise
from bench.targets import judge

RESULTS = Path(__file__).parent / "results"
BATCHQ = str(infra.BIN / "batchq")
CELERY = str(infra.BIN / "celery")
TOPICS = (
    "batchq:BatchSubmitted", "batchq:BatchStarted", "batchq:BatchReportingStarted", "batchq:BatchReported",
    "batchq:JobSubmitted", "batchq:JobStarted", "batchq:JobCompleted", "batchq:JobFailed",
)
JOB_QUEUE = "batchq.jobs.default"
STALL_SECONDS = 60  # no new outcome (and no email) for max(this, N/1000) s: the run is stuck, stop waiting
READY_QUEUES = {"batchq.dispatcher.manifests": 1}


def log(text: str) -> None:
    print(text, flush=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def epoch(value: Any) -> float:
    """An event state's `timestamp` (eventsourcing encodes datetimes as {_type_, _data_})."""
    if isinstance(value, dict):
        value = value.get("_data_")
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


# --- batchq ------------------------------------------------------------------------------


def submission(n: int) -> tuple[str, bytes]:
    batch_id = str(uuid.uuid4())
    body = {
        "schema_version": 1,
        "batch_id": batch_id,
        "tenant": "bench",
        "user_id": "bench",
        "depositor_email": "bench@example.org",
        "jobs": [{"job_uuid": str(uuid.uuid4()), "handler": "noop"} for _ in range(n)],
    }
    return batch_id, orjson.dumps(body)


async def publish_submission(amqp_url: str, body: bytes) -> tuple[float, asyncio.Future[tuple[float, bytes]], Any]:
    """Publish the submission (persistent, confirmed); the reply arrives later on a private queue."""
    connection = await aio_pika.connect_robust(amqp_url, timeout=10)
    channel = await connection.channel(publisher_confirms=True)
    replies = await channel.declare_queue(exclusive=True, auto_delete=True)
    reply: asyncio.Future[tuple[float, bytes]] = asyncio.get_running_loop().create_future()

    async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if not reply.done():
            reply.set_result((time.time(), message.body))

    await replies.consume(on_reply, no_ack=True)
    exchange = await channel.get_exchange("batchq.manifests", ensure=True)
    message = aio_pika.Message(
        body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        reply_to=replies.name, correlation_id=uuid.uuid4().hex, user_id=unquote(urlparse(amqp_url).username or "guest"),
    )
    published_at = time.time()
    await exchange.publish(message, "submit", mandatory=True, timeout=60)
    return published_at, reply, connection


def count_completed(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM batchq_events WHERE topic IN ('batchq:JobCompleted', 'batchq:JobFailed')"
        ).fetchone()
    return int(row[0]) if row else 0


async def drive_batchq(
    n: int, amqp_url: str, database_url: str, smtp: infra.SmtpSink, procs: infra.Processes, timeout: float
) -> dict[str, Any]:
    batch_id, body = submission(n)
    published_at, reply, connection = await publish_submission(amqp_url, body)
    deadline = time.monotonic() + timeout
    next_progress = time.monotonic() + 10
    last_done, moved_at = -1, time.monotonic()
    try:
        while True:
            mail = await asyncio.to_thread(smtp.wait_for, batch_id, 1.0)
            if mail is not None:
                break
            procs.check_alive()
            if time.monotonic() > deadline:
                log(f"  ! no report email for batch {batch_id} after {timeout:.0f} s: giving up")
                procs.dump_stacks()
                break
            if time.monotonic() > next_progress:
                done = await asyncio.to_thread(count_completed, database_url)
                log(f"    … {time.time() - published_at:6.1f} s: {done}/{n} jobs have an outcome")
                next_progress = time.monotonic() + 10
                if done != last_done:
                    last_done, moved_at = done, time.monotonic()
                elif time.monotonic() - moved_at > max(STALL_SECONDS, n / 1000):
                    log(f"  ! no progress for {max(STALL_SECONDS, n / 1000):.0f} s ({done}/{n} outcomes,"
                        " no email): giving up")
                    procs.dump_stacks()
                    break
        try:
            replied_at, reply_body = await asyncio.wait_for(reply, 10)
        except TimeoutError:
            replied_at, reply_body = float("nan"), b"{}"
    finally:
        await connection.close()
    return {
        "batch_id": batch_id, "body_bytes": len(body), "published_at": published_at,
        "replied_at": replied_at, "reply": orjson.loads(reply_body),
        "timed_out": mail is None, "mail_at": mail.received_at if mail else float("nan"),
        "mail_subject": mail.subject if mail else None, "mail_bytes": mail.size if mail else None,
    }


def analyse_events(database_url: str, run: dict[str, Any]) -> dict[str, Any]:
    """Per-job latency and the run's phases, from the event store."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT originator_id, topic, state FROM batchq_events WHERE topic = ANY(%s) ORDER BY notification_id",
            (list(TOPICS),),
        ).fetchall()
        counts = dict(conn.execute("SELECT topic, count(*) FROM batchq_events GROUP BY topic").fetchall())
    at: dict[str, dict[Any, float]] = {t.split(":", 1)[1]: {} for t in TOPICS}
    starts: Counter[Any] = Counter()
    for originator_id, topic, state in rows:
        kind = topic.split(":", 1)[1]
        if kind == "JobStarted":
            starts[originator_id] += 1
        at[kind].setdefault(originator_id, epoch(orjson.loads(bytes(state))["timestamp"]))  # first one wins
    submitted, started, completed = at["JobSubmitted"], at["JobStarted"], at["JobCompleted"]
    queue_latency = [completed[j] - submitted[j] for j in completed if j in submitted]
    run_latency = [completed[j] - started[j] for j in completed if j in started]
    t0 = run["published_at"]

    def rel(values: dict[Any, float], pick: Any) -> float | None:
        return round(pick(values.values()) - t0, 3) if values else None

    last_completed = max(completed.values()) if completed else float("nan")
    phases = {
        "batch_submitted": rel(at["BatchSubmitted"], min),
        "accepted_reply": round(run["replied_at"] - t0, 3),
        "first_job_started": rel(started, min),
        "last_job_started": rel(started, max),
        "first_job_completed": rel(completed, min),
        "last_job_completed": rel(completed, max),
        "batch_reporting_started": rel(at["BatchReportingStarted"], min),
        "batch_reported": rel(at["BatchReported"], min),
        "email_received": round(run["mail_at"] - t0, 3),
    }
    total = sum(counts.values())
    return {
        "completed": len(completed),
        "failed": len(at["JobFailed"]),
        "latency_submitted_to_completed": {
            "p50": round(percentile(queue_latency, 50), 3), "p99": round(percentile(queue_latency, 99), 3),
            "max": round(max(queue_latency, default=float("nan")), 3),
        },
        "latency_started_to_completed": {
            "p50": round(percentile(run_latency, 50), 4), "p99": round(percentile(run_latency, 99), 4),
            "mean": round(statistics.fmean(run_latency), 4) if run_latency else None,
        },
        "report_delay": round(run["mail_at"] - last_completed, 3),
        "jobs_started_more_than_once": sum(1 for k in starts.values() if k > 1),
        "jobs_never_completed": sum(1 for j in submitted if j not in completed),
        "phases_seconds_after_publish": phases,
        "events": {"total": total, "per_job": round(total / max(len(completed), 1), 2), "by_topic": counts},
    }


def run_batchq(
    n: int, workers: int, *, profile: bool, svg: bool = False, timeout: float | None, out_dir: Path,
    extra_env: dict[str, str] | None = None, keep: bool = False,
) -> dict[str, Any]:
    timeout = timeout or 120 + n / 50
    api = infra.RabbitApi()
    log(f"batchq: {n} noop jobs, {workers} worker(s)" + (f", env {extra_env}" if extra_env else ""))
    with (
        infra.fresh_database(keep=keep) as database_url,
        api.fresh_vhost("bench-batchq-", keep=keep) as (vhost, amqp_url),
        infra.SmtpSink() as smtp,
    ):
        env = {
            **os.environ,
            "BATCHQ_DATABASE_URL": database_url,
            "BATCHQ_AMQP_URL": amqp_url,
            "BATCHQ_SMTP_URL": smtp.url,
            "BATCHQ_MAIL_FROM": "batchq-bench@localhost",
            "BATCHQ_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        migrated = subprocess.run([BATCHQ, "migrate"], env=env, capture_output=True, text=True, timeout=120)
        if migrated.returncode != 0:
            raise RuntimeError(f"batchq migrate failed: {migrated.stderr.strip()}")
        log_dir = Path(tempfile.mkdtemp(prefix=f"batchq-{n}-", dir=out_dir))
        procs = infra.Processes(log_dir)
        recorder = Recorder(log_dir, svg=svg) if profile else None
        try:
            pids = {"dispatcher": procs.start("dispatcher", [BATCHQ, "run", "dispatcher"], env).pid,
                    "reporter": procs.start("reporter", [BATCHQ, "run", "reporter"], env).pid}
            for i in range(workers):
                worker_env = {**env, "BATCHQ_WORKER_ID": f"bench-worker-{i}"}
                pids[f"worker{i}"] = procs.start(f"worker{i}", [BATCHQ, "run", "worker"], worker_env).pid

            def ready() -> bool:
                procs.check_alive()
                wanted = {**READY_QUEUES, JOB_QUEUE: workers}
                return all(api.consumers(vhost, q) >= k for q, k in wanted.items())

            started = time.monotonic()
            infra.wait_until(ready, 60, "batchq services", every=0.25)
            log(f"  services ready in {time.monotonic() - started:.1f} s (logs: {log_dir})")
            children = {infra.child_name(name, i, pid): pid for name, parent in pids.items()
                        for i, pid in enumerate(infra.tree_pids(parent)[1:])}
            if children:  # the dispatcher runs the relay as a child process
                log(f"  child processes: {children}")
            if recorder:
                for name, pid in {**pids, **children}.items():
                    if name != "reporter":
                        recorder.start(name, pid)
                time.sleep(0.5)  # let py-spy attach before the clock starts
            meter = infra.CpuMeter({**pids, **(recorder.pids() if recorder else {})})
            meter.start()
            run = asyncio.run(drive_batchq(n, amqp_url, database_url, smtp, procs, timeout))
            cpu = meter.stop()
            memory = infra.peak_memory(pids)
            profiles = {}
            if recorder:
                for name, path in recorder.stop().items():
                    profiles[name] = summarise(path, n)
                    profiles[name]["file"] = str(path)
                    if svg:
                        profiles[name]["svg"] = str(path.with_name(f"{name}.svg"))
        finally:
            codes = procs.stop_all()
            if recorder:
                recorder.stop()
        events = analyse_events(database_url, run)
    elapsed = run["mail_at"] - run["published_at"]
    if run["timed_out"]:  # no email: count up to the last outcome, and say so
        elapsed = events["phases_seconds_after_publish"]["last_job_completed"] or float("nan")
    cpu_per_job = {
        k: round(1000 * v / n, 4) for k, v in cpu.items() if k not in ("wall", "machine_utilisation")
    }
    result = {
        "system": "batchq",
        "timed_out": run["timed_out"],
        "jobs": n,
        "workers": workers,
        "service_env": extra_env or {},
        "seconds": round(elapsed, 3),
        "jobs_per_second": round(n / elapsed, 1),
        "seconds_per_job": elapsed / n,
        **events,
        "run": {k: v for k, v in run.items() if k not in ("published_at", "replied_at", "mail_at")},
        "cpu_seconds": cpu,
        "cpu_ms_per_job": cpu_per_job,
        "peak_rss_mib": memory,
        "exit_codes": codes,
        "logs": str(log_dir),
        "profiles": profiles,
    }
    print_batchq(result)
    return result


def print_batchq(r: dict[str, Any]) -> None:
    q, s = r["latency_submitted_to_completed"], r["latency_started_to_completed"]
    if r["timed_out"]:
        log("  ! NO REPORT EMAIL: the times below end at the last JobCompleted")
    if r["jobs_started_more_than_once"] or r["jobs_never_completed"]:
        log(f"  ! {r['jobs_started_more_than_once']} jobs started more than once,"
            f" {r['jobs_never_completed']} never completed")
    log(f"  batchq  {r['jobs']} jobs in {r['seconds']:.2f} s = {r['jobs_per_second']:,.0f} jobs/s end to end"
        f" ({r['completed']} completed, {r['failed']} failed)")
    log(f"  job latency JobSubmitted→JobCompleted: p50 {q['p50']:.3f} s  p99 {q['p99']:.3f} s  max {q['max']:.3f} s")
    log(f"  job latency JobStarted→JobCompleted:   p50 {s['p50'] * 1000:.1f} ms  p99 {s['p99'] * 1000:.1f} ms")
    log(f"  last JobCompleted → report email: {r['report_delay']:.3f} s")
    log("  phases (s after publish): " + ", ".join(
        f"{k}={v}" for k, v in r["phases_seconds_after_publish"].items()))
    log(f"  events: {r['events']['total']} ({r['events']['per_job']} per job)")
    log("  CPU ms per job: " + ", ".join(f"{k}={v}" for k, v in r["cpu_ms_per_job"].items())
        + f"  (machine utilisation {r['cpu_seconds']['machine_utilisation']:.0%} of 2 cores)")
    log("  peak resident memory, MiB: " + ", ".join(f"{k}={v}" for k, v in r["peak_rss_mib"].items()))
    for name, summary in r["profiles"].items():
        print_summary(name, summary)


# --- Celery ------------------------------------------------------------------------------


def run_celery(n: int, *, pool: str, concurrency: int, prefetch: int, profile: bool, out_dir: Path) -> dict[str, Any]:
    import redis

    api = infra.RabbitApi()
    prefix = infra.unique("bench-celery-") + ":"
    log(f"celery: chord of {n} no-op tasks, worker -P {pool} --concurrency={concurrency}, prefetch x{prefetch}")
    with api.fresh_vhost("bench-celery-") as (vhost, amqp_url):
        env = {
            **os.environ,
            "BENCH_CELERY_BROKER": amqp_url,
            "BENCH_CELERY_BACKEND": infra.REDIS_URL,
            "BENCH_CELERY_PREFIX": prefix,
            "BENCH_CELERY_PREFETCH": str(prefetch),
            "PYTHONUNBUFFERED": "1",
        }
        root = Path(__file__).parent.parent
        log_dir = Path(tempfile.mkdtemp(prefix=f"celery-{n}-", dir=out_dir))
        procs = infra.Processes(log_dir)
        recorder = Recorder(log_dir) if profile else None
        try:
            argv = [CELERY, "-A", "bench.celery_app", "worker", "-P", pool, f"--concurrency={concurrency}",
                    "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-n", f"{prefix.rstrip(':')}@%h"]
            worker = procs.start("celery-worker", argv, env, cwd=root)

            def ready() -> bool:
                procs.check_alive()
                return api.consumers(vhost, "celery") >= 1

            infra.wait_until(ready, 60, "celery worker", every=0.25)
            time.sleep(1.0)  # prefork children finish booting
            if recorder:
                recorder.start("celery-worker", worker.pid, subprocesses=True)
                time.sleep(0.5)
            meter = infra.CpuMeter({"celery_worker": worker.pid})
            meter.start()
            # The producer in a process of its own: a fresh app and connections every run.
            driver = subprocess.Popen([sys.executable, "-m", "bench.celery_driver", str(n)], env=env, cwd=root,
                                      stdout=subprocess.PIPE, stderr=(log_dir / "driver.log").open("wb"))
            stdout = driver.stdout.read() if driver.stdout else b""
            _, status, usage = os.wait4(driver.pid, 0)
            driver.returncode = os.waitstatus_to_exitcode(status)
            cpu = meter.stop()
            cpu["celery_driver"] = round(usage.ru_utime + usage.ru_stime, 2)
            lines = stdout.decode().strip().splitlines()
            times = json.loads(lines[-1]) if lines else {"error": f"driver exited {driver.returncode}"}
            if "error" in times:
                raise RuntimeError(f"{times['error']}; see {log_dir / 'driver.log'}")
            outcome = times["outcome"]
            sent_at, sent_done, got_at = times["sent_at"], times["sent_done"], times["got_at"]
            profiles = {}
            if recorder:
                for name, path in recorder.stop().items():
                    profiles[name] = summarise(path, n)
                    profiles[name]["file"] = str(path)
        finally:
            procs.stop_all()
            if recorder:
                recorder.stop()
            backend = redis.Redis.from_url(infra.REDIS_URL)
            keys = list(backend.scan_iter(match=f"{prefix}*", count=5000))
            for start in range(0, len(keys), 5000):
                backend.delete(*keys[start:start + 5000])
            backend.close()
    ran_at = float(outcome["ran_at"])
    elapsed = ran_at - sent_at
    r = {
        "system": "celery",
        "jobs": n,
        "pool": pool,
        "concurrency": concurrency,
        "prefetch_multiplier": prefetch,
        "seconds": round(elapsed, 3),
        "jobs_per_second": round(n / elapsed, 1),
        "seconds_per_job": elapsed / n,
        "send_seconds": round(sent_done - sent_at, 3),
        "result_seen_after": round(got_at - sent_at, 3),
        "callback_results": outcome["results"],
        "cpu_seconds": cpu,
        "cpu_ms_per_job": {
            k: round(1000 * v / n, 4) for k, v in cpu.items() if k not in ("wall", "machine_utilisation")
        },
        "logs": str(log_dir),
        "profiles": profiles,
    }
    log(f"  celery  {n} tasks in {r['seconds']:.2f} s = {r['jobs_per_second']:,.0f} jobs/s (chord sent in"
        f" {r['send_seconds']:.2f} s; callback saw {r['callback_results']} results)")
    log("  CPU ms per job: " + ", ".join(f"{k}={v}" for k, v in r["cpu_ms_per_job"].items())
        + f"  (machine utilisation {cpu['machine_utilisation']:.0%} of 2 cores)")
    for name, summary in profiles.items():
        print_summary(name, summary)
    return r


def tree_state() -> dict[str, Any]:
    """Which code was measured: HEAD and the files changed in the working tree (others edit it)."""
    root = Path(__file__).parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
        return done.stdout.rstrip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")]
    diff = git("diff", "HEAD", "--", ".", ":(exclude)bench")
    return {"head": git("rev-parse", "HEAD"), "changed_files": changed,
            "diff_sha1": hashlib.sha1(diff.encode()).hexdigest() if diff else None}


# --- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=10_000, help="jobs in the one submission (default 10,000)")
    p.add_argument("--workers", type=int, default=1, help="batchq worker processes (default 1)")
    p.add_argument("--celery", action="store_true", help="also run the same workload as a Celery chord")
    p.add_argument("--celery-pool", default="prefork", choices=["prefork", "threads", "solo", "gevent", "eventlet"])
    p.add_argument("--celery-concurrency", type=int, default=2)
    p.add_argument("--celery-prefetch", type=int, default=4, help="worker_prefetch_multiplier (Celery's default 4)")
    p.add_argument("--scaling", action="store_true", help="also run N=1,000 and N=100,000: per-job cost and ratio")
    p.add_argument("--profile", action="store_true", help="py-spy the dispatcher and workers during the main run")
    p.add_argument("--profile-svg", action="store_true", help="with --profile: also SVG flame graphs")
    p.add_argument("--no-batchq", action="store_true", help="skip the main batchq run (e.g. Celery alone)")
    p.add_argument("--timeout", type=float, help="seconds to wait for the report email (default 120 + N/50)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the batchq services, e.g. BATCHQ_SCAN_SECONDS=3600 (repeatable)")
    p.add_argument("--repeat", type=int, default=1, help="rounds of the main run(s), interleaved; medians kept")
    p.add_argument("--keep", action="store_true", help="keep the batchq database and vhost (names printed)")
    args = p.parse_args(argv)
    extra_env = dict(item.split("=", 1) for item in args.env)

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    out_dir = RESULTS / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    doc: dict[str, Any] = {
        "timestamp": stamp,
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_at_start": os.getloadavg()},
        "tree": tree_state(),
    }
    out = RESULTS / f"{stamp}.json"

    def save() -> None:
        doc["total_seconds"] = round(time.monotonic() - started, 1)
        out.write_text(json.dumps(doc, indent=2, default=str))

    def attempt(what: str, run: Any) -> dict[str, Any]:
        try:
            return run()  # type: ignore[no-any-return]
        except Exception as error:  # recorded; the other runs still happen
            log(f"  ! {what} run failed: {error!r}")
            return {"error": repr(error)}

    def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
        good = sorted((r for r in runs if "jobs_per_second" in r and not r.get("timed_out")),
                      key=lambda r: r["jobs_per_second"])
        return good[(len(good) - 1) // 2] if good else runs[-1]

    try:
        batchq_runs: list[dict[str, Any]] = []
        celery_runs: list[dict[str, Any]] = []
        for i in range(args.repeat):  # interleaved, so that other load on the machine hits both alike
            if args.repeat > 1:
                log(f"== round {i + 1} of {args.repeat}")
            if not args.no_batchq:
                batchq_runs.append(attempt("batchq", lambda: run_batchq(
                    args.jobs, args.workers, profile=args.profile, svg=args.profile_svg, timeout=args.timeout,
                    out_dir=out_dir, extra_env=extra_env, keep=args.keep)))
                doc["batchq"] = median_run(batchq_runs)
                save()
            if args.celery:
                celery_runs.append(attempt("celery", lambda: run_celery(
                    args.jobs, pool=args.celery_pool, concurrency=args.celery_concurrency,
                    prefetch=args.celery_prefetch, profile=args.profile, out_dir=out_dir)))
                doc["celery"] = median_run(celery_runs)
                save()
        if args.repeat > 1:
            doc["batchq_jobs_per_second_all"] = [r.get("jobs_per_second") for r in batchq_runs]
            doc["celery_jobs_per_second_all"] = [r.get("jobs_per_second") for r in celery_runs]
            log(f"all rounds: batchq {doc['batchq_jobs_per_second_all']} jobs/s;"
                f" celery {doc['celery_jobs_per_second_all']} jobs/s (medians kept)")
        if "jobs_per_second" in doc.get("batchq", {}) and "jobs_per_second" in doc.get("celery", {}):
            doc["batchq_over_celery"] = round(doc["batchq"]["jobs_per_second"] / doc["celery"]["jobs_per_second"], 3)
            log(f"batchq/Celery throughput ratio: {doc['batchq_over_celery']:.2f}"
                f" ({doc['batchq']['jobs_per_second']:,.0f} vs {doc['celery']['jobs_per_second']:,.0f} jobs/s)")
            save()
        if args.scaling:
            small = attempt("batchq 1k", lambda: run_batchq(
                1_000, args.workers, profile=False, timeout=None, out_dir=out_dir, extra_env=extra_env,
                keep=args.keep))
            large = attempt("batchq 100k", lambda: run_batchq(
                100_000, args.workers, profile=False, timeout=None, out_dir=out_dir, extra_env=extra_env,
                keep=args.keep))
            doc["scaling"] = {"workers": args.workers, "runs": {"1k": small, "100k": large}}
            if "seconds_per_job" in small and "seconds_per_job" in large:

                def steady(r: dict[str, Any]) -> float:
                    ph = r["phases_seconds_after_publish"]
                    return (ph["last_job_completed"] - ph["first_job_started"]) / r["jobs"]

                doc["scaling"].update({
                    "seconds_per_job_1k": small["seconds_per_job"],
                    "seconds_per_job_100k": large["seconds_per_job"],
                    "ratio_100k_over_1k": round(large["seconds_per_job"] / small["seconds_per_job"], 3),
                    "steady_seconds_per_job_1k": steady(small),
                    "steady_seconds_per_job_100k": steady(large),
                    "steady_ratio_100k_over_1k": round(steady(large) / steady(small), 3),
                })
                sc = doc["scaling"]
                log(f"scaling: {sc['seconds_per_job_1k'] * 1000:.3f} ms/job at 1k, "
                    f"{sc['seconds_per_job_100k'] * 1000:.3f} ms/job at 100k: ratio {sc['ratio_100k_over_1k']:.2f}"
                    f" (first start → last completion only: {sc['steady_seconds_per_job_1k'] * 1000:.3f} vs"
                    f" {sc['steady_seconds_per_job_100k'] * 1000:.3f} ms/job,"
                    f" ratio {sc['steady_ratio_100k_over_1k']:.2f})")
            save()
        targets = judge(doc, batchq_runs)
        doc["targets"] = [{**asdict(t), "met": t.met} for t in targets]
        log("targets (issue #14):\n" + "\n".join(t.line() for t in targets))
        large = (doc.get("scaling") or {}).get("runs", {}).get("100k", {})
        if "peak_rss_mib" in large:
            log("  peak resident memory at 100,000 jobs, MiB: "
                + ", ".join(f"{k}={v}" for k, v in large["peak_rss_mib"].items()))
    finally:
        save()
        log(f"result: {out}  (total {doc['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
