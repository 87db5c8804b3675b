"""Write deploy/rabbitmq/definitions.json from the topology the services declare.

The exchanges, queues, arguments and bindings come from `contracts.names` and
`services.adapters.topology`, the code every service declares at start-up: RabbitMQ
refuses a declaration whose arguments differ from an existing queue's, so the file
loaded at boot must say exactly what the code says. Users and permissions are the
deployment's own and are written here. Existing password hashes are kept; new users
get the default password "change-me".

    .venv/bin/python deploy/rabbitmq/generate_definitions.py     (from the repository root)

tests/unit/test_deploy_files.py fails when the file and the code disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hash_password import ALGORITHM, hash_password

from contracts import names
from services.adapters import topology

DEFINITIONS = Path(__file__).resolve().parent / "definitions.json"
VHOST = "/"
RABBITMQ_VERSION = "3.13.7"
SERVICE_RESOURCES = r"^(batchq\..*|amq\..*)$"  # its queues, replies, server-named queues
# Everything of batchq but the events exchange: only the relay may publish facts (CONTRACT v1.1).
NOT_EVENTS = r"^(?!batchq\.events$)(batchq\..*|amq\..*)$"
REPLIES = r"^amq\.gen.*$"  # a client's exclusive reply queue
USERS = {  # name: (tags, configure, write, read)
    "batchq-admin": (["administrator"], ".*", ".*", ".*"),  # RabbitMQ's own administrator (its UI)
    "batchq-service": (["monitoring"], SERVICE_RESOURCES, NOT_EVENTS, SERVICE_RESOURCES),
    "batchq-relay": ([], SERVICE_RESOURCES, r"^batchq\.events$", SERVICE_RESOURCES),
    # The HTTP API publishes commands as each token's principal: RabbitMQ's impersonator tag.
    "batchq-api": (["impersonator"], REPLIES, r"^(batchq\.commands|amq\.default)$", REPLIES),
    "batchq-producer": ([], "^$", r"^batchq\.manifests$", "^$"),
    "batchq-tenant-admin": ([], REPLIES, r"^batchq\.commands$", REPLIES),
    "batchq-auditor-acme": (
        [],
        r"^batchq\.audit\.acme\..*$",
        r"^batchq\.audit\.acme\..*$",
        r"^(batchq\.events|batchq\.audit\.acme\..*)$",
    ),
}
TOPIC_PERMISSIONS = [("batchq-auditor-acme", names.EVENTS_EXCHANGE, "^$", r"^acme\.")]


def topology_definitions() -> dict[str, list[dict[str, Any]]]:
    """Exchanges, queues and bindings exactly as `AmqpBus.declare` creates them."""
    exchanges = [_exchange(name, kind) for name, kind in names.EXCHANGE_TYPES.items()]
    queues: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    for spec in topology.queues():
        rejected = names.rejected_queue(spec.name)
        arguments = topology.queue_arguments(spec.name, "quorum")
        queues.append(_queue(spec.name, arguments))
        queues.append(_queue(rejected, {}))
        bindings += [_binding(exchange, spec.name, key) for exchange, key in spec.bindings]
        bindings.append(_binding(names.REJECTED_EXCHANGE, rejected, rejected))
    return {"exchanges": exchanges, "queues": queues, "bindings": bindings}


def _exchange(name: str, kind: str) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": VHOST,
        "type": kind,
        "durable": True,
        "auto_delete": False,
        "internal": False,
        "arguments": topology.exchange_arguments(name),
    }


def _queue(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": VHOST,
        "durable": True,
        "auto_delete": False,
        "arguments": arguments,
    }


def _binding(source: str, queue: str, key: str) -> dict[str, Any]:
    return {
        "source": source,
        "vhost": VHOST,
        "destination": queue,
        "destination_type": "queue",
        "routing_key": key,
        "arguments": {},
    }


def access_definitions(known_hashes: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    users, permissions = [], []
    for name, (tags, configure, write, read) in USERS.items():
        password_hash = known_hashes.get(name) or hash_password("change-me")
        users.append(
            {
                "name": name,
                "password_hash": password_hash,
                "hashing_algorithm": ALGORITHM,
                "tags": tags,
                "limits": {},
            }
        )
        permissions.append(
            {"user": name, "vhost": VHOST, "configure": configure, "write": write, "read": read}
        )
    topic_permissions = [
        {"user": user, "vhost": VHOST, "exchange": exchange, "write": write, "read": read}
        for user, exchange, write, read in TOPIC_PERMISSIONS
    ]
    return {"users": users, "permissions": permissions, "topic_permissions": topic_permissions}


def definitions(known_hashes: dict[str, str]) -> dict[str, Any]:
    return {
        "rabbit_version": RABBITMQ_VERSION,
        "rabbitmq_version": RABBITMQ_VERSION,
        "product_name": "RabbitMQ",
        "product_version": RABBITMQ_VERSION,
        **access_definitions(known_hashes),
        "vhosts": [
            {"name": VHOST, "limits": [], "metadata": {"description": "batchq", "tags": []}}
        ],
        "parameters": [],
        "global_parameters": [],
        "policies": [],
        **topology_definitions(),
    }


def main() -> None:
    current = json.loads(DEFINITIONS.read_text()) if DEFINITIONS.exists() else {"users": []}
    known = {user["name"]: user["password_hash"] for user in current["users"]}
    DEFINITIONS.write_text(json.dumps(definitions(known), indent=2) + "\n")
    print(f"wrote {DEFINITIONS}")


if __name__ == "__main__":
    main()
