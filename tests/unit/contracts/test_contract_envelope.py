"""Event envelopes round-trip through JSON with UTC timestamps ending in 'Z'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
import pytest

from contracts.envelope import AggregateType, EventEnvelope
from contracts.errors import ContractError, ErrorCode


def envelope(**changes: Any) -> EventEnvelope:
    fields: dict[str, Any] = {
        "position": 7,
        "event_id": UUID(int=1),
        "type": "JobFailed",
        "aggregate_type": AggregateType.JOB,
        "aggregate_id": UUID(int=2),
        "aggregate_version": 4,
        "occurred_at": datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC),
        "tenant": "acme",
        "user_id": "depositor-7",
        "trace_id": "trace-1",
        "batch_id": UUID(int=3),
        "data": {"error": {"code": "E_IO", "reason": "disk", "traceback": "", "stage": "run"}},
    }
    fields.update(changes)
    return EventEnvelope(**fields)


def test_an_envelope_round_trips_through_json() -> None:
    original = envelope()
    assert EventEnvelope.from_json(original.to_json()) == original


def test_occurred_at_is_utc_with_microseconds_and_z() -> None:
    body = orjson.loads(envelope().to_json())
    assert body["occurred_at"] == "2026-11-22T10:00:00.000000Z"


def test_occurred_at_in_another_zone_is_published_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    moved = envelope(occurred_at=datetime(2026, 11, 22, 12, 0, 0, 5, tzinfo=plus_two))
    assert orjson.loads(moved.to_json())["occurred_at"] == "2026-11-22T10:00:00.000005Z"
    assert moved.occurred_at.utcoffset() == timedelta(0)


def test_a_naive_occurred_at_is_refused() -> None:
    with pytest.raises(ValueError, match="occurred_at"):
        envelope(occurred_at=datetime(2026, 11, 22, 10, 0, 0))


def test_the_routing_key_is_tenant_aggregate_and_type() -> None:
    assert envelope().routing_key == "acme.job.JobFailed"
    paused = envelope(aggregate_type="queue", type="QueuePaused", batch_id=None)
    assert paused.routing_key == "acme.queue.QueuePaused"


def test_batch_and_job_events_need_a_batch_id() -> None:
    with pytest.raises(ValueError, match="batch_id is required for a job event"):
        envelope(batch_id=None)


def test_an_event_type_that_would_break_the_routing_key_is_refused() -> None:
    with pytest.raises(ValueError, match="type"):
        envelope(type="Job.Failed")


def test_a_reader_ignores_fields_a_newer_writer_added() -> None:
    body = orjson.loads(envelope().to_json())
    body["causation_id"] = "something new"
    assert EventEnvelope.from_json(orjson.dumps(body)) == envelope()


def test_an_envelope_of_another_schema_version_is_refused() -> None:
    body = orjson.loads(envelope().to_json())
    body["schema_version"] = 2
    with pytest.raises(ContractError) as caught:
        EventEnvelope.from_json(orjson.dumps(body))
    assert caught.value.code is ErrorCode.UNSUPPORTED_SCHEMA_VERSION


def test_an_erased_depositor_is_a_valid_envelope_user() -> None:
    example = {
        "schema_version": 1, "position": 7, "event_id": "0b6c1a9e-0000-4000-8000-000000000001", "type": "JobFailed",
        "aggregate_type": "job", "aggregate_id": "0b6c1a9e-0000-4000-8000-000000000002", "aggregate_version": 3,
        "occurred_at": "2026-11-22T10:00:00.123456Z", "tenant": "acme", "user_id": "[erased]", "trace_id": "t",
        "batch_id": "0b6c1a9e-0000-4000-8000-000000000003", "data": {"error": {"code": "E", "reason": "[erased]"}},
    }  # fmt: skip
    assert EventEnvelope.model_validate(example).user_id == "[erased]"
