"""A canary stage on the real servers (contract v1.1, upgrades): routed by job, recorded by pool, aborted back."""

from __future__ import annotations

import pytest

from tests.e2e.cli import Cli, job, submission
from tests.e2e.processes import Processes

pytestmark = pytest.mark.timeout(240)


def started_pools(cli: Cli, batch_id: str) -> list[str]:
    return [e["data"]["pool"] for e in cli.events(batch_id=batch_id) if e["type"] == "JobStarted"]


def test_a_full_canary_runs_every_job_on_the_canary_pool_and_an_abort_sends_waiting_ones_back(
    migrated: Cli, processes: Processes
) -> None:
    cli = migrated
    processes.start_many("dispatcher", "reporter")
    processes.start("worker-canary", env={"BATCHQ_POOL": "canary"})
    cli.ok("canary", "start", "--percent", "100", "--reason", "handlers v2")

    first = cli.submit(submission([job() for _ in range(20)]))["result"]["batch_id"]
    cli.wait_for_batch(first, "COMPLETED")
    assert started_pools(cli, first) == ["canary"] * 20
    status = cli.ok("canary", "status", "--json").json()
    assert status["running"] is True and status["pools"]["canary"]["completed"] == 20

    processes.kill("worker-canary")  # the new version misbehaves: nothing more runs on the canary
    waiting = cli.submit(submission([job() for _ in range(10)]))["result"]["batch_id"]
    reply = cli.ok("canary", "abort", "--reason", "errors up").json()
    processes.start("worker")

    assert reply["result"] == {"canary": "aborted", "rerouted_jobs": 10}
    cli.wait_for_batch(waiting, "COMPLETED")
    assert started_pools(cli, waiting) == ["default"] * 10
    rerouted = [e for e in cli.events(batch_id=waiting) if e["type"] == "JobRerouted"]
    assert {e["data"]["pool"] for e in rerouted} == {"default"} and len(rerouted) == 10


def test_a_ten_percent_canary_takes_ten_percent_of_two_thousand_jobs_give_or_take_two(
    migrated: Cli, processes: Processes
) -> None:
    cli = migrated
    processes.start("dispatcher")
    cli.ok("canary", "start", "--percent", "10")

    batch_id = cli.submit(submission([job() for _ in range(2000)]))["result"]["batch_id"]

    submitted = [e for e in cli.events(batch_id=batch_id) if e["type"] == "JobSubmitted"]
    share = sum(e["data"]["pool"] == "canary" for e in submitted) / len(submitted)
    assert len(submitted) == 2000 and 0.08 <= share <= 0.12
