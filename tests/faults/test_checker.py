"""The history checker finds each kind of fault in a synthetic history, and none in a sound one."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from tests.faults.checker import check
from tests.faults.read_model import differences

JOB = "11111111-1111-1111-1111-111111111111"
BATCH = "22222222-2222-2222-2222-222222222222"


def event(position: int, event_type: str, aggregate: str = "job", **data: Any) -> dict[str, Any]:
    aggregate_id = JOB if aggregate == "job" else BATCH
    return {
        "position": position,
        "type": event_type,
        "aggregate_type": aggregate,
        "aggregate_id": aggregate_id,
        "data": data,
    }


def mail(message_id: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["Message-ID"] = message_id
    message.set_content(body)
    return message


SOUND = [
    event(1, "JobSubmitted"),
    event(2, "JobStarted", attempt=1),
    event(3, "JobFailed", attempt=1, error={"code": "WORKER_LOST"}),
    event(4, "JobRetried"),
    event(5, "JobStarted", attempt=2),
    event(6, "JobCompleted", attempt=2),
    event(7, "BatchReported", "batch", kind="initial", changed=[], message_id="<report-1>"),
]


def test_a_sound_history_has_no_faults() -> None:
    history = check(SOUND, [mail("<report-1>", "body"), mail("<report-1>", "body")])
    history.assert_sound()
    assert history.figures["jobs"] == 1 and history.figures["reports"] == 1


@pytest.mark.parametrize(
    ("events", "mails", "figure"),
    [
        (SOUND[:2], [], "lost"),
        ([*SOUND[:6], event(8, "JobCompleted", attempt=2)], [], "illegal"),
        (
            [
                *SOUND[:2],
                event(3, "JobFailed", attempt=1, error={"code": "WORKER_LOST"}),
                event(4, "JobCompleted", attempt=1),
            ],
            [],
            "illegal",
        ),
        ([SOUND[0], SOUND[2]], [], "illegal"),
        ([SOUND[1], SOUND[0]], [], "disordered"),
        (SOUND, [mail("<report-1>", "one"), mail("<report-1>", "another")], "extra_emails"),
        (SOUND, [], "missing_emails"),
        (
            [{**SOUND[0], "aggregate_version": 1}, {**SOUND[1], "aggregate_version": 3}],
            [],
            "torn",
        ),
    ],
    ids=[
        "left-processing",
        "completed-twice",
        "completed-after-fence",
        "failed-unstarted",
        "positions",
        "two-emails",
        "no-email",
        "version-gap",
    ],
)
def test_each_fault_is_found(events: list[dict[str, Any]], mails: list[EmailMessage], figure: str) -> None:
    assert check(events, mails).figures[figure] >= 1


# -- replaying every aggregate equals the read model (tests/faults/read_model.py) -------

REPLAYED = {BATCH: {"status": "COMPLETED"}, JOB: {"status": "COMPLETED", "attempts": 2}}


def test_a_read_model_that_agrees_with_the_replay_has_no_differences() -> None:
    assert differences(REPLAYED, {BATCH: {"status": "COMPLETED"}, JOB: {"status": "COMPLETED", "attempts": 2}}) == []


@pytest.mark.parametrize(
    ("projected", "found"),
    [
        (
            {BATCH: {"status": "COMPLETED"}, JOB: {"status": "PROCESSING", "attempts": 2}},
            f"{JOB}: status 'COMPLETED' replayed, 'PROCESSING' in the read model",
        ),
        (
            {BATCH: {"status": "COMPLETED"}, JOB: {"status": "COMPLETED", "attempts": 1}},
            f"{JOB}: attempts 2 replayed, 1 in the read model",
        ),
        ({JOB: {"status": "COMPLETED", "attempts": 2}}, f"{BATCH}: no read-model row"),
        (
            {**REPLAYED, "33333333-3333-3333-3333-333333333333": {"status": "PENDING"}},
            "33333333-3333-3333-3333-333333333333: a read-model row with no aggregate",
        ),
    ],
    ids=["status", "attempts", "missing-row", "stray-row"],
)
def test_a_read_model_that_differs_from_the_replay_is_found(projected: dict[str, Any], found: str) -> None:
    assert differences(REPLAYED, projected) == [found]
    history = check(SOUND)
    history.read_model = differences(REPLAYED, projected)
    assert history.figures["read_model_differs"] == 1
    with pytest.raises(AssertionError, match="read_model_differs"):
        history.assert_sound()
