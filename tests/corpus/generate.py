"""Stored events of every event type, as the store holds them: the corpus tests/unit/test_event_corpus.py loads.

    .venv/bin/python -m tests.corpus.generate --check   # the event types tests/corpus/events.jsonl lacks
    .venv/bin/python -m tests.corpus.generate           # writes tests/corpus/events.new.jsonl from today's code

The corpus is history: a line of events.jsonl is never rewritten or removed, so every
shape ever stored must load forever. When an event type or a `class_version` is added,
append its lines from events.new.jsonl (and, for a new version, keep the old shape's).
Lines marked `"sealed": true` are the shapes of migration 3 (personal fields sealed per
depositor; docs in services/adapters/sealing.py): one per type, read without their keys,
so they load as erased.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import orjson

from contracts.commands import (
    AbortCanary,
    CancelJob,
    DeleteBatch,
    EraseDepositor,
    GrantRole,
    PauseQueue,
    PromoteCanary,
    ResumeQueue,
    RetryJob,
    RevokeRole,
    SetQuota,
    StartCanary,
    UpdateReporting,
)
from domain.access import Role
from domain.base import EVENT_CLASSES
from domain.checkpoint import create_checkpoint
from domain.quotas import Scope
from domain.submission import JobDraft
from services.dispatcher.admin import COMMAND_HANDLERS
from services.reporter.application import Reporter
from services.reporter.mailer import FolderMailer
from tests.unit.domain.builders import USER_ID, draft, job_id
from tests.unit.services.embedded import HANDLER_ERROR, OPERATOR, Engine

CORPUS = Path(__file__).with_name("events.jsonl")
NEW = Path(__file__).with_name("events.new.jsonl")
ITEM = {"key": "release-42", "version": 2, "target": "retailer-x"}


def command(engine: Engine, message: object) -> None:
    COMMAND_HANDLERS[type(message)](engine.app, message, OPERATOR)


def histories(engine: Engine, folder: Path) -> None:
    """A store in which every event type happens at least once."""
    for message in (
        GrantRole(principal="alice", role=Role.ADMIN, tenant="acme"),
        RevokeRole(principal="alice", role=Role.ADMIN, tenant="acme"),
        SetQuota(scope=Scope.TENANT, subject="acme", max_active_jobs=1000),
        PauseQueue(reason="upgrade"),
        ResumeQueue(reason="done"),
        StartCanary(percent=50),
        PromoteCanary(),
        StartCanary(percent=100),
    ):
        command(engine, message)
    j = [job_id(n) for n in range(1, 8)]
    engine.submit(draft([JobDraft(j[0], item=ITEM), JobDraft(j[1], max_attempts=2), JobDraft(j[2], depends_on=[j[1]])]))
    command(engine, AbortCanary(reason="errors up"))  # reroutes the waiting jobs
    running = engine.job(j[0])
    running.start("worker-1", engine.later(1), "default")
    running.report_progress(1, 0.5, engine.later(1), "half")
    running.flag_stuck(1, 61.0, engine.later(1))
    engine._hear(engine.store.save(running))
    engine.react()  # a free retry: the platform's failure, not the job's
    engine.later(600)
    engine.run(j[0])
    for _ in range(2):
        engine.run(j[1], error=HANDLER_ERROR)
        engine.react()  # a retry, then the abandonment; job 3 is cancelled with it
    reporter = Reporter(engine.store, FolderMailer(folder / "mail"), "batchq@example.org", lambda: engine.now)
    reporter.report(draft([]).batch_id)
    command(engine, RetryJob(job_uuid=j[1], override=True))
    engine.run(j[1])
    engine.react()
    command(engine, UpdateReporting(batch_id=draft([]).batch_id))
    reporter.report(draft([]).batch_id)
    second = job_id(100)
    engine.submit(draft([JobDraft(j[3], item=ITEM), JobDraft(j[4]), JobDraft(j[5])], batch_id=second))  # skipped
    command(engine, CancelJob(job_uuid=j[4]))
    command(engine, DeleteBatch(batch_id=second))
    third = job_id(200)
    engine.submit(draft([JobDraft(j[6], item={**ITEM, "version": 3})], batch_id=third))
    command(engine, CancelJob(job_uuid=j[6]))
    engine.submit(draft([JobDraft(job_id(8), item={**ITEM, "version": 3})], batch_id=job_id(300)))  # reclaims
    engine.submit(draft([JobDraft(job_id(9))], batch_id=job_id(400)))
    engine.run(job_id(9))
    engine.react()
    reporter.report(job_id(400))  # COMPLETED
    kept = replace(draft([JobDraft(job_id(10), params={"p": 1})], batch_id=job_id(500)), tags={"retention_days": 0})
    engine.submit(kept)
    engine.run(job_id(10))
    engine.react()
    reporter.report(job_id(500))
    engine.app.expire_personal_data([job_id(500)], engine.later(1))  # BatchPersonalDataExpired
    command(engine, EraseDepositor(tenant="acme", user_id=USER_ID, reason="asked"))  # DepositorErased
    engine.store.save(
        create_checkpoint(
            UUID(int=999), label="before-upgrade", position=engine.store.max_position(),
            store_schema_version=2, location="/backups/x", requested_by=OPERATOR, now=engine.later(1),
        )
    )  # fmt: skip


def lines(engine: Engine) -> list[bytes]:
    found = []
    for stored in engine.store.read_stored(0, 100_000):
        record = {
            "topic": stored.topic,
            "originator_id": str(stored.originator_id),
            "originator_version": stored.originator_version,
            "state": orjson.loads(stored.state),
        }
        found.append(orjson.dumps(record))
    return found


def missing_types(corpus: Path = CORPUS) -> list[str]:
    present = {orjson.loads(line)["topic"].removeprefix("batchq:") for line in corpus.read_bytes().splitlines()}
    return sorted(set(EVENT_CLASSES) - present)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        missing = missing_types()
        print("\n".join(missing) or "every event type is in the corpus")
        return 1 if missing else 0
    with tempfile.TemporaryDirectory() as folder:
        engine = Engine(Path(folder))
        histories(engine, Path(folder))
        written = lines(engine)
    NEW.write_bytes(b"\n".join(written) + b"\n")
    print(f"wrote {len(written)} events to {NEW}; the corpus lacks: {missing_types() or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
