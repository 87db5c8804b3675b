"""A canary stage on the real servers (contract v1.1, upgrades): routed by job, recorded by pool, aborted back."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.api import start_api
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


@pytest.mark.batchq_env(BATCHQ_ALERT_INTERVAL_SECONDS="0.3")
def test_the_dashboard_shows_a_canary_in_progress_until_it_ends(migrated: Cli, processes: Processes) -> None:
    processes.start("dispatcher")  # it takes the canary commands
    api = start_api(processes, migrated)

    def banner() -> str | None:
        page = httpx.get(f"{api.base_url}/", cookies={"batchq_token": api.token}, timeout=30)
        page.raise_for_status()
        return page.text.split('<div id="canary"', 1)[1].split("</div>", 1)[0] if 'id="canary"' in page.text else None

    before = banner()
    migrated.ok("canary", "start", "--percent", "10", "--tenant", "acme", "--reason", "handlers v2")
    shown = api.wait_until(banner, "the canary banner")
    migrated.ok("canary", "abort", "--reason", "errors up")
    api.wait_until(lambda: banner() is None, "the banner gone after the abort")

    assert before is None
    assert "Canary in progress: 10 % of the new jobs of acme go to the worker pool canary" in " ".join(shown.split())
