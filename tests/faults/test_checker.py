"""The history checker finds each kind of fault in a synthetic history, and none in a sound one."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from tests.faults.checker import check

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
