"""No value that is not strict JSON reaches the store, and no stored event stops the relay.

Before: a submission with `NaN` in `params` was stored; the relay could not
decode it (orjson), exited, restarted and failed on it for ever, so no event of
any tenant was published again. Events that old versions stored are planted here
with SQL, as an upgrade would find them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from contracts import names
from contracts.envelope import event_envelopes
from domain.submission import BatchDraft, JobDraft, create_batch
from services.adapters.amqp import AmqpBus
from services.adapters.bus import Delivery, Verdict
from services.adapters.store import EventStore, UnencodableEventError
from services.relay.relay import Relay

pytestmark = pytest.mark.integration


def _draft(tenant: str, params: dict[str, object] | None = None) -> BatchDraft:
    return BatchDraft(
        batch_id=uuid.uuid4(),
        tenant=tenant,
        user_id="depositor",
        trace_id="trace",
        depositor_email="d@example.org",
        fingerprint="sha256:x",
        jobs=[JobDraft(job_uuid=uuid.uuid4(), params=params or {}) for _ in range(2)],
    )


def _save(store: EventStore, draft: BatchDraft) -> list[int]:
    new = create_batch(draft, {}, datetime.now(UTC))
    return [recorded.position for recorded in store.save(*new.aggregates())]


@pytest.fixture
def store(database_url: str) -> EventStore:
    store = EventStore.postgres(database_url, create_tables=True)
    store.migrate()
    return store


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_an_event_holding_a_non_finite_number_is_never_stored(store: EventStore, value: float) -> None:
    before = store.max_position()
    with pytest.raises(UnencodableEventError) as refused:
        _save(store, _draft("acme", {"n": value}))
    assert refused.value.code == "INVALID_MESSAGE"
    assert store.max_position() == before  # nothing of the append


def _plant(database_url: str, position: int, state: bytes) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE batchq_events SET state = %s WHERE notification_id = %s", (state, position))


def test_the_relay_publishes_past_events_it_cannot_read(store: EventStore, database_url: str, amqp_url: str) -> None:
    poisoned = _save(store, _draft("acme"))
    others = _save(store, _draft("globex"))
    nan_position, garbage_position = poisoned[1], poisoned[2]
    with psycopg.connect(database_url) as conn:
        (state,) = conn.execute(
            "SELECT state FROM batchq_events WHERE notification_id = %s", (nan_position,)
        ).fetchone()
    _plant(database_url, nan_position, bytes(state).replace(b'"params":{}', b'"params":{"n":NaN}'))
    _plant(database_url, garbage_position, b"\xff not json")

    heard: list[int] = []
    relay = asyncio.run(_relay_until_heard(store, amqp_url, len(poisoned) + len(others) - 1, heard))
    assert sorted(heard) == sorted(p for p in poisoned + others if p != garbage_position)
    assert relay.unpublishable == 1
    assert store.dialect.relay_position("relay") == max(others)  # it moved past the skipped event


async def _relay_until_heard(store: EventStore, amqp_url: str, expected: int, heard: list[int]) -> Relay:
    bus = AmqpBus(amqp_url)
    await bus.connect()

    async def hear(delivery: Delivery) -> Verdict:
        heard.extend(envelope.position for envelope in event_envelopes(delivery.body))
        return Verdict.ack()

    await bus.subscribe(names.EVENTS_EXCHANGE, ["#"], hear)
    relay, stopping = Relay(store, bus), asyncio.Event()
    running = asyncio.create_task(relay.run(stopping))
    try:
        async with asyncio.timeout(20):
            while len(heard) < expected:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # and no more than that
    finally:
        stopping.set()
        await running
        await bus.close()
    return relay
