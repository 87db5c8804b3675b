"""`batchq.events` as an auditor sees it: its own durable queue, bound per tenant.

Every event recorded in the store is published (after it is stored), under the routing key
`<tenant>.<aggregate>.<EventType>`, as the same envelope `batchq events --json` prints, in
position order; a binding on `acme.#` sees acme's events and nobody else's. A message
(schema 2) carries a run of consecutive events with its routing key: `{"events": [...]}`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.broker import Received, bind_queue, drain
from tests.e2e.cli import Cli, job, submission
from tests.e2e.processes import Processes
from tests.threaded_servers import SmtpServer

ENVELOPE_FIELDS = {
    "schema_version",
    "position",
    "event_id",
    "type",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "occurred_at",
    "tenant",
    "user_id",
    "trace_id",
    "batch_id",
    "data",
}


def collect(amqp_url: str, queue: str, positions: set[int], timeout: float = 20.0) -> list[tuple[str, dict[str, Any]]]:
    """Drain `queue` until every one of `positions` has arrived: (routing key, envelope), as they came."""
    got: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    while not positions <= {envelope["position"] for _, envelope in got}:
        if time.monotonic() > deadline:
            seen = {envelope["position"] for _, envelope in got}
            raise AssertionError(f"{queue}: positions {sorted(positions - seen)} never arrived")
        got += [(m.routing_key, envelope) for m in drain(amqp_url, queue) for envelope in _events(m)]
        time.sleep(0.2)
    return got


def _events(message: Received) -> list[dict[str, Any]]:
    document = json.loads(message.body)
    assert document["schema_version"] == 2 and set(document) == {"schema_version", "events"}, document
    return list(document["events"])


def test_an_auditor_queue_gets_every_event_of_its_tenant_in_position_order(
    migrated: Cli, processes: Processes, cli: Cli, amqp_url: str, smtp_server: SmtpServer
) -> None:
    bind_queue(amqp_url, "audit.acme", "batchq.events", ["acme.#"])
    bind_queue(amqp_url, "audit.globex", "batchq.events", ["globex.#"])
    processes.start_many("dispatcher", "worker", "reporter")
    acme = submission([job(), job("fail"), job(item={"key": "k", "version": 1, "target": "t"})], tenant="acme")
    globex = submission([job()], tenant="globex", user_id="auditor-2")
    cli.submit(acme)
    cli.submit(globex)
    cli.wait_for_batch(acme["batch_id"], "FAILED")
    cli.wait_for_batch(globex["batch_id"], "COMPLETED")

    stored = {e["position"]: e for e in cli.events()}
    acme_positions = {p for p, e in stored.items() if e["tenant"] == "acme"}
    globex_positions = {p for p, e in stored.items() if e["tenant"] == "globex"}
    heard = collect(amqp_url, "audit.acme", acme_positions)
    heard_globex = collect(amqp_url, "audit.globex", globex_positions)

    envelopes = [envelope for _, envelope in heard]
    assert {e["position"] for e in envelopes} == acme_positions  # all of acme's, no one else's
    assert {envelope["position"] for _, envelope in heard_globex} == globex_positions
    first_seen = list(dict.fromkeys(e["position"] for e in envelopes))
    assert first_seen == sorted(first_seen), "events arrived out of position order"
    for routing_key, envelope in heard:
        assert set(envelope) == ENVELOPE_FIELDS, envelope
        assert envelope == stored[envelope["position"]]  # the very envelope the store gives
        assert routing_key == f"acme.{envelope['aggregate_type']}.{envelope['type']}"
    assert {e["aggregate_type"] for e in envelopes} >= {"batch", "job", "item"}
    assert len({e["event_id"] for e in envelopes}) == len(acme_positions)


def test_events_prints_the_whole_history_even_past_ten_thousand_events(system: Processes, cli: Cli) -> None:
    root = job("fail")
    doc = submission([root, *(job(depends_on=[root["job_uuid"]]) for _ in range(5100))])
    cli.submit(doc)
    cli.wait_for_batch(doc["batch_id"], "FAILED", timeout=120)
    of_batch = cli.events(batch_id=doc["batch_id"])
    assert len(of_batch) > 10_000  # 5,100 jobs submitted and cancelled, and the batch's own

    everything = cli.events()

    assert [e["position"] for e in everything] == list(range(1, of_batch[-1]["position"] + 1))
