"""A job that runs longer than RabbitMQ's `consumer_timeout`: it runs once, and the channel lives.

RabbitMQ closes a channel whose consumer keeps a delivery unacknowledged past
`consumer_timeout` (30 minutes in `deploy/`), and puts the message back: a worker that
acked only when its job ended would lose its channel under every long job, and the job
would be delivered again. The worker acks once its claim is recorded (the store owns
the job from then on), so here, on a node of the test's own with a 5 s timeout, a 12 s
job runs once, completes once, and the worker's channel is never closed: jobs
submitted while it runs still run, and the node logs no timeout but the probe's.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.cli import Cli, count_per_aggregate, job, submission
from tests.e2e.mail import reports_for
from tests.e2e.processes import Processes
from tests.faults.broker import unacked_delivery_closes_its_channel, wait_for_consumers
from tests.faults.private_servers import PrivateRabbit
from tests.faults.verdict import settled_and_sound
from tests.threaded_servers import SmtpServer

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

TIMEOUT_SECONDS = 5
LONG_JOB_SECONDS = 12
SHORT_JOBS = 20
# RabbitMQ 3.10 checks consumer timeouts on the channel's tick, every 60 s by default:
# a 12 s job would never meet a 5 s timeout. A 1 s tick makes the check prompt.
ONE_SECOND_TICK = "[{rabbit, [{channel_tick_interval, 1000}]}].\n"
TIMED_OUT = "timed out waiting for delivery acknowledgement"  # what 3.10 logs when it closes such a channel


def logged_timeouts(rabbit: PrivateRabbit, wait: float = 10.0) -> int:
    """How often the node has logged a consumer timeout, once it has logged at least one (it writes late)."""
    deadline = time.monotonic() + wait
    while not (seen := rabbit.log_text().count(TIMED_OUT)):
        assert time.monotonic() < deadline, f"the node logged no consumer timeout:\n{rabbit.log_tail()}"
        time.sleep(0.2)
    return seen


def started(events: list[dict[str, object]], job_uuid: str) -> bool:
    return any(e["type"] == "JobStarted" and e["aggregate_id"] == job_uuid for e in events)


@pytest.mark.timeout(120)
@pytest.mark.rabbitmq_conf(f"consumer_timeout = {TIMEOUT_SECONDS * 1000}", advanced=ONE_SECOND_TICK)
@pytest.mark.batchq_env(BATCHQ_WORKER_CONCURRENCY="4")
def test_a_job_longer_than_the_consumer_timeout_runs_once_and_its_channel_lives(
    private_rabbitmq: PrivateRabbit, amqp_url: str, system: Processes, cli: Cli, smtp_server: SmtpServer
) -> None:
    closed = unacked_delivery_closes_its_channel(amqp_url, hold=TIMEOUT_SECONDS + 10)
    assert closed is not None and "PRECONDITION_FAILED" in closed, f"the node's timeout did not bite: {closed}"
    probe_timeouts = logged_timeouts(private_rabbitmq)
    worker_pid = system.pid("worker")

    long = job("sleep", params={"seconds": LONG_JOB_SECONDS})
    doc = submission([long, *(job() for _ in range(SHORT_JOBS))])
    cli.submit(doc)
    cli.wait_for_events(lambda events: started(events, long["job_uuid"]), batch_id=doc["batch_id"], timeout=30)
    time.sleep(TIMEOUT_SECONDS + 2)  # past the timeout and a tick: a held delivery would be timed out by now

    during = submission([job() for _ in range(10)])
    cli.submit(during)
    cli.wait_for_batch(during["batch_id"], "COMPLETED", timeout=20)
    running = {j["job_uuid"]: j["status"] for j in cli.status(doc["batch_id"])["jobs"]}
    assert running[long["job_uuid"]] == "PROCESSING", "the long job ended before the check: it proves nothing"

    settled_and_sound(cli, smtp_server, doc["batch_id"], SHORT_JOBS + 1, fault="a job 12 s long, consumer_timeout 5 s")
    events = cli.events(job_uuid=long["job_uuid"])
    assert count_per_aggregate(events, "JobStarted")[long["job_uuid"]] == 1, "the long job was started again"
    assert len(reports_for(smtp_server.messages, doc["batch_id"])) == 1
    assert private_rabbitmq.log_text().count(TIMED_OUT) == probe_timeouts, private_rabbitmq.log_tail()
    unsettled = [line for line in system.logs("worker").splitlines() if "delivery_unsettled" in line]
    assert not unsettled and "PRECONDITION_FAILED" not in system.logs("worker"), unsettled
    wait_for_consumers(private_rabbitmq, amqp_url, timeout=5)
    assert system.alive("worker") and system.pid("worker") == worker_pid
