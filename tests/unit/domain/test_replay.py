"""Replaying recorded events rebuilds every aggregate exactly, under its pinned topics.

Given a batch, its jobs, item claims and the queue driven through many
transitions, when their events are saved and read back through an
`eventsourcing` application (in-memory store, real transcoding), then each
rebuilt aggregate equals the original and every stored topic is `batchq:<Event>`.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from domain.batch import Batch
from domain.item import item_id
from domain.job import Job, JobError
from domain.queue import create_queue
from domain.states import BatchStatus
from domain.submission import ItemOwner, JobDraft, create_batch
from domain.tally import JobTally
from tests.unit.domain.builders import HANDLER_ERROR, TENANT, InMemoryApplication, at, draft, job_id

ITEM = {"key": "release-42", "version": 2, "target": "retailer-x"}
DONE_ITEM = {"key": "release-41", "version": 1, "target": "retailer-x"}


def report(batch: Batch, jobs: list[Job], message_id: str, minute: int) -> None:
    states = {str(job.id): job.status.value for job in jobs}
    done = sum(job.done for job in jobs)
    batch.conclude(batch.plan_report(states, done), message_id, at(minute))


def busy_history() -> list[Aggregate]:
    """A batch of five jobs, taken through most of what can happen to them."""
    specs = [
        JobDraft(job_id(1), handler="checksum", payload_url="http://127.0.0.1:8000/payload/1", item=ITEM),
        JobDraft(
            job_id(2),
            handler="flaky",
            params={"fail_times": 2},
            max_attempts=3,
            depends_on=[job_id(1)],
        ),
        JobDraft(job_id(3), depends_on=[job_id(2)]),
        JobDraft(job_id(4), item=DONE_ITEM),
        JobDraft(job_id(5), handler="fail", params={"code": "E42", "reason": "always"}),
    ]
    owners = {item_id(TENANT, DONE_ITEM): ItemOwner(job_id(800), "COMPLETED")}
    created = create_batch(draft(specs), owners, at(0))
    batch, jobs = created.batch, created.jobs
    j1, j2, j3, _, j5 = jobs  # job 4 is skipped: its item was already done
    j1.start("worker-1", at(1))
    j1.report_progress(1, 0.5, at(2), message="downloaded")
    j1.complete(1, {"sha256": "ab" * 32, "size": 3}, at(3))
    j2.start("worker-1", at(4))
    j2.fail(1, HANDLER_ERROR, at(5))
    j2.retry_automatically(at(6), at(5))
    j2.start("worker-2", at(6))
    j2.lose_worker(2, at(7))
    j2.retry_automatically(at(8), at(7))
    j2.start("worker-3", at(8))
    j2.flag_stuck(3, 601.5, at(9))
    j2.retry_automatically(at(10), at(9))
    j2.start("worker-3", at(10))
    j2.fail(4, HANDLER_ERROR, at(11))
    j2.retry_automatically(at(12), at(11))
    j2.start("worker-3", at(12))
    j2.fail(5, HANDLER_ERROR, at(13))
    j2.abandon(at(14))
    j3.cancel("dependency abandoned", at(14), cause_job_uuid=j2.id)
    j5.start("worker-1", at(15))
    j5.fail(1, JobError("E42", "always", "Traceback …", "execution"), at(16))
    tally = JobTally(total=5)
    for job in jobs:
        tally.move(None, job.status)
    batch.start_reporting(tally, at(17))
    report(batch, jobs, "<first@batchq>", 18)
    assert batch.status is BatchStatus.FAILED
    j2.retry("admin", "flaky upstream fixed", True, at(19))
    j2.start("worker-4", at(20))
    j2.complete(6, None, at(21))
    j3.retry("admin", "dependency done now", True, at(22))
    j3.start("worker-4", at(23))
    j3.complete(1, [1, 2, 3], at(24))
    j5.retry("admin", "one more time", False, at(25))
    j5.start("worker-4", at(26))
    j5.fail(2, HANDLER_ERROR, at(27))
    batch.request_update_reporting("admin", "jobs 2 and 3 fixed", 0, at(28))
    report(batch, jobs, "<update@batchq>", 29)
    batch.delete("admin", "job 5 cannot be fixed", at(30))
    [claim] = created.items
    claim.reclaim(job_id(6), at(31))
    queue = create_queue(at(0))
    queue.pause("admin", "upgrade", at(32))
    queue.resume("admin", "", at(33))
    return [*created.aggregates(), queue]


def test_replaying_saved_events_rebuilds_equal_aggregates() -> None:
    app = InMemoryApplication()
    aggregates = busy_history()

    app.save(*aggregates)

    for aggregate in aggregates:
        rebuilt = app.repository.get(aggregate.id)
        assert rebuilt == aggregate, type(aggregate).__name__
    assert app.repository.get(job_id(2)).attempts == 6


def test_replay_up_to_a_version_rebuilds_the_batch_as_it_was() -> None:
    app = InMemoryApplication()
    aggregates = busy_history()
    batch = aggregates[0]
    app.save(*aggregates)

    failed_at = app.repository.get(batch.id, version=5)  # submitted, started, reporting, reported, failed

    assert failed_at.status is BatchStatus.FAILED
    assert [report["kind"] for report in failed_at.reports] == ["initial"]
    assert app.repository.get(batch.id).status is BatchStatus.DELETED


def test_every_stored_topic_is_pinned_under_batchq() -> None:
    app = InMemoryApplication()
    app.save(*busy_history())

    topics = {n.topic for n in app.recorder.select_notifications(start=1, limit=10_000)}

    assert all(topic.startswith("batchq:") for topic in topics), sorted(topics)
    assert topics == {
        "batchq:" + name
        for name in [
            "BatchSubmitted",
            "BatchStarted",
            "BatchReportingStarted",
            "BatchReported",
            "BatchFailed",
            "BatchUpdateReportingRequested",
            "BatchDeleted",
            "JobSubmitted",
            "JobStarted",
            "JobProgressed",
            "JobCompleted",
            "JobFailed",
            "JobRetried",
            "JobCancelled",
            "JobSkipped",
            "JobAbandoned",
            "JobStuck",
            "ItemClaimed",
            "ItemReclaimed",
            "QueueCreated",
            "QueuePaused",
            "QueueResumed",
        ]
    }
