"""`batchq run api` for the end-to-end tests: a free port, a token from `batchq token create`, an httpx client."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cli import Cli
from tests.e2e.processes import Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ApiClient:
    base_url: str
    token: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token if token is not None else self.token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        with self.client() as c:
            return c.get(path, params=params)

    def post(self, path: str, json: Any = None) -> httpx.Response:
        with self.client() as c:
            return c.post(path, json=json)

    def metrics(self) -> dict[str, list[Any]]:
        """Samples by metric family name, parsed as Prometheus would."""
        text = httpx.get(f"{self.base_url}/metrics", timeout=30).text
        return {family.name: family.samples for family in text_string_to_metric_families(text)}

    def wait_until(self, ready: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while not (found := ready()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s")
            time.sleep(0.25)
        return found


def start_api(processes: Processes, cli: Cli, **env: str) -> ApiClient:
    port = free_port()
    processes.start("api", env={"BATCHQ_HTTP_ADDR": f"127.0.0.1:{port}", **env})
    created = cli.ok("token", "create", "guest").stdout.splitlines()  # the first operator (migrate ran as guest)
    return ApiClient(f"http://127.0.0.1:{port}", created[-1].strip())
