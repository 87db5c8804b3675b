"""The read model (services/projections): fed from the log, exactly once, rebuildable from position 0."""

from __future__ import annotations

from collections import Counter

from tests.e2e.cli import Cli, job, new_id, submission
from tests.e2e.processes import Processes
from tests.e2e.read_model import dump, wait_caught_up
from tests.threaded_servers import SmtpServer


def mixed_batch(cli: Cli, smtp_server: SmtpServer) -> dict[str, object]:
    """Completed, failed then retried by hand and abandoned, skipped and cancelled jobs in one batch."""
    doomed, owner = new_id(), new_id()
    item = {"key": "release-1", "version": 1, "target": "retailer-x"}
    doc = submission(
        [
            job("sleep", params={"seconds": 1}),
            job("fail", job_uuid=doomed, params={"code": "BAD", "reason": "no"}, max_attempts=2),
            job(depends_on=[doomed]),
            job(job_uuid=owner, item=item),
            job(item=item, depends_on=[owner]),
        ],
        tenant="acme",
    )
    cli.submit(doc)
    cli.wait_for_batch(str(doc["batch_id"]), "FAILED")
    smtp_server.wait_for(1)
    cli.ok("retry", doomed, "--override", "--reason", "once more")
    cli.wait_for_events(lambda es: any(e["type"] == "JobAbandoned" for e in es), job_uuid=doomed)
    cli.wait_for_batch(str(doc["batch_id"]), "FAILED")
    return doc


def test_the_read_model_equals_the_store_and_a_rebuild_from_zero_equals_the_live_one(
    system: Processes, cli: Cli, database_url: str, smtp_server: SmtpServer
) -> None:
    system.start("projector")
    doc = mixed_batch(cli, smtp_server)
    status = cli.status(str(doc["batch_id"]))
    wait_caught_up(database_url)
    live = dump(database_url)

    jobs = {str(row["job_uuid"]): row for row in live["batchq_rm_jobs"]}
    for expected in status["jobs"]:
        row = jobs[expected["job_uuid"]]
        error = expected["error"] and {"code": expected["error"]["code"], "stage": expected["error"]["stage"]}
        assert (row["status"], row["attempts"], row["error"]) == (  # no reason nor traceback: they are personal
            expected["status"],
            expected["attempts"],
            error,
        ), expected["job_uuid"]
    assert {r["status"] for r in live["batchq_rm_jobs"]} >= {"COMPLETED", "ABANDONED", "SKIPPED", "CANCELLED"}
    [batch] = live["batchq_rm_batches"]
    assert (str(batch["batch_id"]), batch["status"], batch["job_count"]) == (doc["batch_id"], "FAILED", 5)
    counted = {(r["tenant"], r["status"]): r["jobs"] for r in live["batchq_rm_job_counts"] if r["jobs"]}
    assert counted == Counter(("acme", j["status"]) for j in status["jobs"])
    assert [e["position"] for e in live["batchq_rm_events"]] == [e["position"] for e in cli.events()]

    system.kill("projector")
    rebuilt = cli.ok("projections", "rebuild")
    assert "rebuilt the read model" in rebuilt.stdout
    assert f"/{live['batchq_rm_position'][0]['position']} events" in rebuilt.stderr  # plain progress lines
    assert dump(database_url) == live
