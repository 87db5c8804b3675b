"""A checkpoint's record: what was copied, by whom, and an envelope that the contract accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from contracts.envelope import EventEnvelope
from domain.checkpoint import CheckpointCreated, create_checkpoint
from services.adapters.envelopes import dumps, envelope

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
CHECKPOINT_ID = UUID(int=11)


def test_a_checkpoint_records_its_position_schema_version_label_and_who() -> None:
    checkpoint = create_checkpoint(
        CHECKPOINT_ID, label="before 1.2", position=1234, store_schema_version=1,
        location="/backups/cp", requested_by="ops-alice", now=NOW,
    )  # fmt: skip

    [event] = checkpoint.collect_events()

    assert isinstance(event, CheckpointCreated)
    assert (checkpoint.position, checkpoint.store_schema_version, checkpoint.label) == (1234, 1, "before 1.2")
    assert (event.user_id, event.tenant, event.batch_id, event.timestamp) == ("ops-alice", "batchq", None, NOW)


def test_its_event_is_a_batchless_envelope_of_aggregate_type_checkpoint() -> None:
    checkpoint = create_checkpoint(
        CHECKPOINT_ID, label="", position=0, store_schema_version=1, location="/cp", requested_by="ops", now=NOW
    )
    [event] = checkpoint.collect_events()

    parsed = EventEnvelope.from_json(dumps(envelope(5, event)))

    assert parsed.routing_key == "batchq.checkpoint.CheckpointCreated"
    assert parsed.batch_id is None and parsed.data["position"] == 0
