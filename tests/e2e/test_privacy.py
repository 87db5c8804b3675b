"""Forget a person, keep the history (QUEUE-022): erasure and retention on the real servers.

After `batchq erase`, a `pg_dump` of the whole database holds none of the
depositor's markers, email or user id; every history still replays and reads
"[erased]" in their place; another depositor is untouched; a batch running
during the erasure still ends, and its report is not sent. Retention erases
exactly the batches past their `tags.retention_days`.
"""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import psycopg
import pytest

from services.adapters.store import EventStore
from tests.e2e.api import start_api
from tests.e2e.cli import Cli, job, submission
from tests.e2e.mail import reports_for
from tests.e2e.processes import Processes
from tests.e2e.read_model import wait_caught_up
from tests.threaded_servers import SmtpServer

ERASED = "[erased]"


class Depositor:
    """A depositor whose every personal field carries one unique marker."""

    def __init__(self, name: str) -> None:
        self.marker = f"marker-{name}-{uuid.uuid4().hex[:12]}"
        self.user_id = f"{name}-{uuid.uuid4().hex[:8]}"
        self.email = f"{name}-{uuid.uuid4().hex[:8]}@example.org"

    def batch(self, jobs: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        return submission(jobs, user_id=self.user_id, depositor_email=self.email, **fields)

    def failing_batch(self) -> dict[str, Any]:
        """One job fails with the marker in its reason; one has it in `params` and `payload_url`."""
        return self.batch(
            [
                job("fail", params={"code": "BAD_INPUT", "reason": f"cannot read {self.marker}"}),
                job(params={"note": self.marker}, payload_url=f"http://127.0.0.1:9/{self.marker}"),
            ]
        )

    def traces(self) -> list[str]:
        return [self.marker, self.email, self.user_id]


def replay_every_aggregate(database_url: str) -> dict[uuid.UUID, Any]:
    """Every aggregate of the store rebuilt from its events, as any reader of the store would."""
    store = EventStore.postgres(database_url)
    try:
        with psycopg.connect(database_url) as conn:
            ids = [row[0] for row in conn.execute("SELECT DISTINCT originator_id FROM batchq_events")]
        return store.get_many(ids)
    finally:
        store.close()


def pg_dump(database_url: str) -> str:
    return subprocess.run(["pg_dump", database_url], check=True, capture_output=True, text=True).stdout


def test_an_erased_depositor_leaves_no_plaintext_and_every_history_still_replays(
    system: Processes, cli: Cli, database_url: str, smtp_server: SmtpServer
) -> None:
    system.start("projector")
    gone, kept = Depositor("gone"), Depositor("kept")
    done, other = gone.failing_batch(), kept.failing_batch()
    for doc in (done, other):
        cli.submit(doc)
        cli.wait_for_batch(doc["batch_id"], "FAILED")
    smtp_server.wait_for(2)
    before = cli.events(batch_id=done["batch_id"])[-1]["occurred_at"]
    # Long enough that the erasure lands while they run, on a slow machine too (1.5 s raced the CLI once).
    running = gone.batch([job("sleep", params={"seconds": 6, "note": gone.marker}) for _ in range(6)])
    cli.submit(running)
    cli.wait_for_events(lambda es: any(e["type"] == "JobStarted" for e in es), batch_id=running["batch_id"])

    erased = cli.ok("erase", "--tenant", "acme", "--user", gone.user_id, "--reason", "the depositor asked")
    final = cli.wait_for_status(running["batch_id"], lambda d: d["status"] in ("COMPLETED", "FAILED"))
    wait_caught_up(database_url)
    dump = pg_dump(database_url)

    assert erased.json()["result"]["keys_destroyed"] == 2  # the finished batch's key and the running one's
    assert [t for t in gone.traces() if t in dump] == []
    assert kept.user_id in dump and kept.marker not in dump  # kept: sealed, but its key is there
    # The running batch ended; its report was withheld, and no email went out for it.
    assert reports_for(smtp_server.messages, running["batch_id"]) == []
    assert final["reports"] and "withheld" in final["reports"][-1]
    # Ids, states and codes stay; the personal fields read "[erased]", now and as it was.
    now, then = cli.status(done["batch_id"]), cli.status(done["batch_id"], at=before)
    for doc in (now, then):
        assert (doc["user_id"], doc["status"]) == (ERASED, "FAILED")
        assert doc["jobs"][0]["error"] == {"code": "BAD_INPUT", "reason": ERASED, "traceback": ERASED,
                                           "stage": "execution"}  # fmt: skip
    events = cli.events(batch_id=done["batch_id"])
    assert not [t for t in gone.traces() if t in str(events)] and {e["user_id"] for e in events} == {ERASED}
    # The other depositor is untouched.
    assert cli.status(other["batch_id"])["user_id"] == kept.user_id
    assert kept.marker in cli.status(other["batch_id"])["jobs"][0]["error"]["reason"]
    # Every aggregate replays: each one folded from its events, the whole log, and the read model rebuilt from 0.
    everything = cli.events()
    assert "DepositorErased" in {e["type"] for e in everything}
    replayed = replay_every_aggregate(database_url)
    assert len(replayed) == len({e["aggregate_id"] for e in everything})
    assert replayed[uuid.UUID(done["batch_id"])].depositor_email == ERASED
    cli.ok("projections", "rebuild")
    assert [t for t in gone.traces() if t in pg_dump(database_url)] == []
    # Logs name the depositor by a keyed hash only.
    logs = "".join(str(line) for name in ("dispatcher", "worker", "reporter") for line in system.log_events(name))
    assert [t for t in (gone.user_id, gone.email, kept.user_id, kept.email) if t in logs] == []


def test_erasing_twice_is_one_erasure_and_an_unknown_depositor_is_no_error(migrated: Cli, processes: Processes) -> None:
    processes.start_many("dispatcher")

    first = migrated.ok("erase", "--tenant", "acme", "--user", "nobody-here")
    second = migrated.ok("erase", "--tenant", "acme", "--user", "nobody-here")

    assert first.code == second.code == 0
    assert "keys_destroyed" in first.stdout


@pytest.mark.batchq_env(BATCHQ_RETENTION_SWEEP_SECONDS=0.5)
def test_the_retention_sweep_erases_exactly_the_batches_past_their_retention(
    system: Processes, cli: Cli, database_url: str, smtp_server: SmtpServer
) -> None:
    system.start("projector")
    depositor = Depositor("kept")
    short = depositor.batch([job(params={"note": depositor.marker})], tags={"retention_days": 2 / 86_400})
    long = depositor.batch([job(params={"note": depositor.marker})], tags={"retention_days": 30})
    none = depositor.batch([job(params={"note": depositor.marker})])
    for doc in (short, long, none):
        cli.submit(doc)
        cli.wait_for_batch(doc["batch_id"], "COMPLETED")

    expired = cli.wait_for_events(
        lambda es: any(e["type"] == "BatchPersonalDataExpired" for e in es), batch_id=short["batch_id"], timeout=30
    )
    wait_caught_up(database_url)

    assert [e["type"] for e in expired].count("BatchPersonalDataExpired") == 1
    assert cli.status(short["batch_id"])["user_id"] == ERASED
    assert [cli.status(b["batch_id"])["user_id"] for b in (long, none)] == [depositor.user_id] * 2
    everything = cli.events()
    assert {e["batch_id"] for e in everything if e["type"] == "BatchPersonalDataExpired"} == {short["batch_id"]}


def test_the_api_erases_a_depositor_for_an_operator(
    system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    api = start_api(system, cli)
    depositor = Depositor("api")
    doc = depositor.failing_batch()
    cli.submit(doc)
    cli.wait_for_batch(doc["batch_id"], "FAILED")
    erased = api.post(f"/api/v1/depositors/acme/{depositor.user_id}/erase", {"reason": "GDPR request"})
    shown = api.get(f"/api/v1/batches/{doc['batch_id']}").json()

    assert erased.status_code == 200 and erased.json()["result"]["keys_destroyed"] == 1
    assert shown["user_id"] == ERASED and shown["jobs"][0]["error"]["reason"] == ERASED
    listed = api.get("/api/v1/batches").json()
    assert [b["user_id"] for b in listed["batches"] if b["batch_id"] == doc["batch_id"]] in ([ERASED], [])
