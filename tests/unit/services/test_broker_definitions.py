"""A checkpoint's broker definitions: one vhost's, in the management API's shape, loadable anywhere."""

from __future__ import annotations

from typing import Any

from services.adapters.broker_definitions import of_vhost, portable


def binding(destination: str, kind: str = "queue", vhost: str = "v") -> dict[str, Any]:
    return {"source": "batchq.jobs", "destination": destination, "destination_type": kind, "vhost": vhost}


def test_a_whole_broker_export_is_cut_down_to_one_vhost_without_users_or_vhost_fields() -> None:
    everything = {
        "rabbit_version": "3.10.8",
        "users": [{"name": "guest", "password_hash": "secret"}],
        "vhosts": [{"name": "v"}, {"name": "w"}],
        "queues": [{"name": "q", "vhost": "v"}, {"name": "other", "vhost": "w"}],
        "exchanges": [{"name": "batchq.jobs", "vhost": "v"}],
        "bindings": [binding("q"), binding("other", vhost="w")],
        "policies": [],
    }

    cut = of_vhost(everything, "v")

    assert cut == {
        "rabbit_version": "3.10.8",
        "parameters": [],
        "policies": [],
        "queues": [{"name": "q"}],
        "exchanges": [{"name": "batchq.jobs"}],
        "bindings": [{k: v for k, v in binding("q").items() if k != "vhost"}],
    }


def test_bindings_of_a_process_own_queue_that_was_not_exported_are_dropped() -> None:
    definitions = {
        "queues": [{"name": "batchq.jobs.default"}],
        "bindings": [binding("batchq.jobs.default"), binding("amq_60647c49"), binding("batchq.alt", kind="exchange")],
    }

    kept = portable(definitions)["bindings"]

    assert [b["destination"] for b in kept] == ["batchq.jobs.default", "batchq.alt"]
