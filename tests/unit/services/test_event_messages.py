"""Messages on `batchq.events`: runs of consecutive events with one routing key, read back in position order."""

from __future__ import annotations

import orjson
import pytest

from contracts.envelope import event_envelopes
from contracts.errors import ContractError, ErrorCode
from services.adapters.bus import Message
from services.relay.grouping import event_messages
from tests.unit.contracts.test_contract_envelope import envelope


def _event(position: int, key: str) -> Message:
    tenant, _, kind = key.split(".")
    body = envelope(position=position, tenant=tenant, type=kind).to_json()
    return Message(routing_key=key, body=body, mandatory=kind == "JobCancelled")


S, C, X = "acme.job.JobStarted", "acme.job.JobCompleted", "acme.job.JobCancelled"
G = "globex.job.JobStarted"

GROUPING = {
    "one event": ([S], [[S]]),
    "a run of one key": ([S, S, S], [[S, S, S]]),
    "each run in turn": ([S, S, C, C, S], [[S, S], [C, C], [S]]),
    "another tenant breaks a run": ([S, G, S], [[S], [G], [S]]),
    "nothing": ([], []),
}


@pytest.mark.parametrize(("keys", "expected"), GROUPING.values(), ids=GROUPING.keys())
def test_consecutive_events_with_one_routing_key_share_a_message(keys: list[str], expected: list[list[str]]) -> None:
    events = [_event(position, key) for position, key in enumerate(keys, start=1)]

    messages = event_messages(events)

    assert [m.routing_key for m in messages] == [run[0] for run in expected]
    read = [[e.position for e in event_envelopes(m.body)] for m in messages]
    assert read == [list(p) for p in _positions(expected)]  # every event once, in position order
    for message in messages:
        assert {e.routing_key for e in event_envelopes(message.body)} == {message.routing_key}


def _positions(runs: list[list[str]]) -> list[range]:
    out, start = [], 1
    for run in runs:
        out.append(range(start, start + len(run)))
        start += len(run)
    return out


def test_a_message_is_capped_by_size_and_a_larger_event_travels_alone() -> None:
    events = [_event(position, S) for position in range(1, 8)]
    size = len(events[0].body)

    messages = event_messages(events, max_bytes=3 * size + 3)

    assert [len(event_envelopes(m.body)) for m in messages] == [3, 3, 1]
    assert len(event_messages(events[:2], max_bytes=size // 2)) == 2


def test_a_run_of_events_the_workers_must_hear_is_published_mandatory() -> None:
    messages = event_messages([_event(1, S), _event(2, X), _event(3, X)])
    assert [(m.routing_key, m.mandatory) for m in messages] == [(S, False), (X, True)]


def test_the_envelopes_in_a_message_are_exactly_the_ones_given() -> None:
    events = [_event(1, S), _event(2, S)]
    (message,) = event_messages(events)
    document = orjson.loads(message.body)
    assert document["schema_version"] == 2
    assert document["events"] == [orjson.loads(e.body) for e in events]


READ_REFUSED = {
    "not JSON": (b"\xff", ErrorCode.INVALID_MESSAGE),
    "no events": (b'{"schema_version": 2, "events": []}', ErrorCode.INVALID_MESSAGE),
    "not an envelope inside": (b'{"schema_version": 2, "events": [{"not": "an envelope"}]}', ErrorCode.INVALID_MESSAGE),
    "a version to come": (b'{"schema_version": 3, "events": []}', ErrorCode.UNSUPPORTED_SCHEMA_VERSION),
    "a lone envelope that is not one": (b'{"schema_version": 1, "not": "an envelope"}', ErrorCode.INVALID_MESSAGE),
}


@pytest.mark.parametrize(("body", "code"), READ_REFUSED.values(), ids=READ_REFUSED.keys())
def test_a_message_that_holds_no_events_is_refused_with_its_code(body: bytes, code: ErrorCode) -> None:
    with pytest.raises(ContractError) as refused:
        event_envelopes(body)
    assert refused.value.code == code


def test_a_lone_envelope_of_schema_1_is_read_as_one_event() -> None:
    assert event_envelopes(envelope(position=9).to_json()) == [envelope(position=9)]
