"""Administering the tests' RabbitMQ: through the management API, or `rabbitmqctl` without it.

Both offer the same methods (vhosts, queue counts, definitions, users), so a test
runs the same on a broker whose management plugin is off, as long as the broker
is local and `rabbitmqctl` answers; `tests/servers.py` picks one.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

IMPORT_SECONDS = 30.0


class ManagementApi:
    """The management plugin's HTTP API."""

    def __init__(self, api_url: str) -> None:
        parts = urlsplit(api_url)
        base = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
        self.client = httpx.Client(base_url=base, auth=auth, timeout=10)
        self.description = f"management API at {base}"

    def problem(self) -> str | None:
        try:
            response = self.client.get("/api/whoami")
        except httpx.HTTPError as error:
            return f"{self.description}: {error}"
        if response.status_code != 200:
            return f"{self.description}: HTTP {response.status_code}"
        if "administrator" not in str(response.json().get("tags", "")):
            return f"{self.description}: its user is not an administrator"
        return None

    def add_vhost(self, vhost: str, user: str) -> None:
        self.client.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
        everything = {"configure": ".*", "write": ".*", "read": ".*"}
        path = f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}"
        self.client.put(path, json=everything).raise_for_status()

    def delete_vhost(self, vhost: str) -> None:
        response = self.client.delete(f"/api/vhosts/{quote(vhost, safe='')}")
        if response.status_code != 404:
            response.raise_for_status()

    def vhost_exists(self, vhost: str) -> bool:
        response = self.client.get(f"/api/vhosts/{quote(vhost, safe='')}")
        return response.status_code == 200

    def unacked_messages(self, vhost: str, queue: str) -> int:
        """As of the API's last statistics refresh (every 5 s by default)."""
        response = self.client.get(f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}")
        response.raise_for_status()
        return int(response.json().get("messages_unacknowledged", 0))

    def import_definitions(self, definitions: dict[str, Any]) -> None:
        self.client.post("/api/definitions", json=definitions).raise_for_status()

    def delete_user(self, user: str) -> None:
        response = self.client.delete(f"/api/users/{quote(user, safe='')}")
        if response.status_code != 404:
            response.raise_for_status()


class Rabbitmqctl:
    """The same through `rabbitmqctl`, for a local broker without the management plugin."""

    def __init__(self, binary: str) -> None:
        self._binary = binary
        self.description = binary

    def _run(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [self._binary, "-q", *args], input=stdin, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout

    def problem(self) -> str | None:
        try:
            self._run("list_vhosts")
        except (subprocess.SubprocessError, OSError) as error:
            return f"{self._binary} list_vhosts: {error}"
        return None

    def add_vhost(self, vhost: str, user: str) -> None:
        self._run("add_vhost", vhost)
        self._run("set_permissions", "-p", vhost, user, ".*", ".*", ".*")

    def delete_vhost(self, vhost: str) -> None:
        if self.vhost_exists(vhost):
            self._run("delete_vhost", vhost)

    def vhost_exists(self, vhost: str) -> bool:
        return vhost in self._run("list_vhosts", "--no-table-headers", "name").split()

    def unacked_messages(self, vhost: str, queue: str) -> int:
        """Asked of the queue itself, so current (no statistics interval)."""
        rows = self._run("list_queues", "-p", vhost, "--no-table-headers", "name", "messages_unacknowledged")
        counts = dict(line.rsplit(None, 1) for line in rows.splitlines() if line.strip())
        return int(counts[queue])

    def import_definitions(self, definitions: dict[str, Any]) -> None:
        """Import, then wait until applied: `rabbitmqctl import_definitions` returns before it is done."""
        with tempfile.NamedTemporaryFile("w", suffix=".json") as file:  # 3.10 reads no "-" for stdin
            os.chmod(file.name, 0o644)  # rabbitmqctl may read it as the rabbitmq user
            json.dump(definitions, file)
            file.flush()
            self._run("import_definitions", file.name)
        deadline = time.monotonic() + IMPORT_SECONDS
        while not self._imported(definitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"rabbitmqctl import_definitions not applied after {IMPORT_SECONDS} s")
            time.sleep(0.2)

    def _imported(self, definitions: dict[str, Any]) -> bool:
        """Users come first and bindings last in an import: when both are there, all is."""
        users = set(self._run("list_users", "--no-table-headers").split())
        if not {u["name"] for u in definitions.get("users", [])} <= users:
            return False
        for vhost in {b["vhost"] for b in definitions.get("bindings", [])}:
            rows = self._run("list_bindings", "-p", vhost, "--no-table-headers", "source_name").split()
            if len(rows) < sum(1 for b in definitions["bindings"] if b["vhost"] == vhost):
                return False
        return True

    def delete_user(self, user: str) -> None:
        if user in self._run("list_users", "--no-table-headers").split():
            self._run("delete_user", user)


VhostAdmin = ManagementApi | Rabbitmqctl
