"""Alerts raise and clear on conditions driven for real: alert_raised / alert_cleared lines and the gauge."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.api import ApiClient, start_api
from tests.e2e.cli import Cli, job, submission
from tests.e2e.processes import Processes

ALERT_ENV = {
    "BATCHQ_ALERT_INTERVAL_SECONDS": "0.3",
    "BATCHQ_ALERT_QUEUE_DEPTH": "3",
    "BATCHQ_ALERT_OLDEST_PENDING_SECONDS": "2",
    "BATCHQ_ALERT_STUCK_SECONDS": "1",
    "BATCHQ_ALERT_FAILURE_RATE": "0.5",
    "BATCHQ_ALERT_FAILURE_MIN_OUTCOMES": "3",
    "BATCHQ_ALERT_FAILURE_WINDOW_SECONDS": "600",
}
pytestmark = pytest.mark.batchq_env(**ALERT_ENV)


@pytest.fixture
def api(system: Processes, cli: Cli) -> ApiClient:
    return start_api(system, cli)


def lines(processes: Processes, event: str, alert: str) -> list[dict[str, Any]]:
    return [e for e in processes.log_events("api") if e.get("event") == event and e.get("alert") == alert]


def firing(api: ApiClient, alert: str) -> float:
    samples = api.metrics()["batchq_alert_firing"]
    return max((s.value for s in samples if s.labels["alert"] == alert), default=0.0)


def wait_for(processes: Processes, api: ApiClient, event: str, alert: str, gauge: float) -> dict[str, Any]:
    found = api.wait_until(lambda: lines(processes, event, alert), f"{event} {alert}")
    assert firing(api, alert) == gauge
    return dict(found[-1])


def test_a_deep_queue_and_an_old_pending_job_raise_while_paused_and_clear_once_resumed(
    api: ApiClient, system: Processes, cli: Cli
) -> None:
    assert firing(api, "queue_depth") == 0
    cli.ok("pause", "--reason", "alert test")
    doc = submission([job() for _ in range(5)])
    cli.submit(doc)
    deep = wait_for(system, api, "alert_raised", "queue_depth", 1)
    assert (deep["subject"], deep["value"], deep["threshold"]) == ("default", 5.0, 3.0)
    old = wait_for(system, api, "alert_raised", "oldest_pending_seconds", 1)
    assert old["value"] > 2 and old["threshold"] == 2

    cli.ok("resume")
    cli.wait_for_batch(doc["batch_id"], "COMPLETED")
    cleared = wait_for(system, api, "alert_cleared", "queue_depth", 0)
    assert cleared["value"] == 0
    wait_for(system, api, "alert_cleared", "oldest_pending_seconds", 0)
    assert len(lines(system, "alert_raised", "queue_depth")) == 1  # raised once, not once per evaluation


def test_a_job_processing_past_the_stuck_threshold_raises_and_its_end_clears(
    api: ApiClient, system: Processes, cli: Cli
) -> None:
    doc = submission([job("sleep", params={"seconds": 4})])
    cli.submit(doc)
    stuck = wait_for(system, api, "alert_raised", "stuck_jobs", 1)
    assert (stuck["value"], stuck["threshold"]) == (1.0, 0.0)
    cli.wait_for_batch(doc["batch_id"], "COMPLETED")
    wait_for(system, api, "alert_cleared", "stuck_jobs", 0)


def test_a_failure_rate_over_the_threshold_raises_and_enough_successes_clear_it(
    api: ApiClient, system: Processes, cli: Cli
) -> None:
    failing = submission([job("fail", params={"code": "BAD", "reason": "no"}, max_attempts=1) for _ in range(3)])
    cli.submit(failing)
    cli.wait_for_batch(failing["batch_id"], "FAILED")
    raised = wait_for(system, api, "alert_raised", "failure_rate", 1)
    assert (raised["value"], raised["threshold"]) == (1.0, 0.5)

    fine = submission([job() for _ in range(4)])
    cli.submit(fine)
    cli.wait_for_batch(fine["batch_id"], "COMPLETED")
    cleared = wait_for(system, api, "alert_cleared", "failure_rate", 0)
    assert cleared["value"] == pytest.approx(3 / 7)
