"""Outages of the servers batchq depends on, injected from outside as an operator would see them.

`drop_database_connections`: PostgreSQL terminates every session of the test's database (what a
server restart, a failover or an idle-session killer does to a running service);
`drop_broker_connections`: RabbitMQ force-closes every connection of the test's vhost (a broker
restart, a network partition, an operator closing connections).
"""

from __future__ import annotations

import subprocess
import time
from urllib.parse import quote, unquote, urlsplit

import psycopg

from tests.servers import ManagementApi, RabbitServer


def drop_database_connections(database_url: str) -> int:
    """Terminate every other session on this database; how many there were."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def vhost_of(amqp_url: str) -> str:
    return unquote(urlsplit(amqp_url).path.lstrip("/"))


def drop_broker_connections(rabbitmq_server: RabbitServer, amqp_url: str, expected: int, timeout: float = 20.0) -> int:
    """Force-close the vhost's connections once `expected` of them are listed; how many were closed."""
    vhost = vhost_of(amqp_url)
    admin = rabbitmq_server.admin
    if not isinstance(admin, ManagementApi):
        subprocess.run(
            [admin.description, "close_all_connections", "-p", vhost, "e2e: broker connection drop"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return expected
    path = f"/api/vhosts/{quote(vhost, safe='')}/connections"
    deadline = time.monotonic() + timeout
    while len(connections := admin.client.get(path).json()) < expected:  # the listing lags a little
        if time.monotonic() > deadline:
            raise AssertionError(f"vhost {vhost}: {len(connections)} connections listed, expected {expected}")
        time.sleep(0.25)
    for connection in connections:
        response = admin.client.delete(
            f"/api/connections/{quote(connection['name'], safe='')}",
            headers={"X-Reason": "e2e: broker connection drop"},
        )
        assert response.status_code in (204, 404), response.text
    return len(connections)
