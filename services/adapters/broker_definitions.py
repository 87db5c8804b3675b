"""A vhost's RabbitMQ definitions (queues, exchanges, bindings, policies): saved with a checkpoint, loaded at restore.

Through RabbitMQ's management API (`GET`/`POST /api/definitions/<vhost>`). When
`BATCHQ_RABBITMQ_MANAGEMENT_URL` is not set and the default (port 15672 of the
broker's host) does not answer, through `rabbitmqctl export_definitions` /
`import_definitions` instead, which reach only a broker on this host: a broker
without the management plugin is still checkpointed. An API named explicitly is
the operator's choice, so nothing else is tried behind its back.

Either way the file has the management API's per-vhost shape: no vhost in its
items and no users (no password hashes in a checkpoint), so it loads into any
vhost; restore loads it into the vhost of `BATCHQ_AMQP_URL`. An import merges:
what the vhost has already stays, and existing queues and exchanges are kept as
they are, so loading into a vhost the services have declared changes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import orjson

from services.adapters.setup_errors import SetupError

VHOST_KEYS = ("parameters", "policies", "queues", "exchanges", "bindings")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
IMPORT_SECONDS = 30.0  # `rabbitmqctl import_definitions` returns before the import is applied


class BrokerDefinitionsError(SetupError):
    def __init__(self, vhost: str, problem: str) -> None:
        super().__init__(f"broker definitions not loaded into vhost {vhost}: {problem}")


@dataclass(frozen=True)
class Broker:
    """Where the definitions go or come from: the vhost of BATCHQ_AMQP_URL, its user, the API beside it."""

    vhost: str
    auth: tuple[str, str]
    api_url: str
    local: bool
    may_use_rabbitmqctl: bool

    @classmethod
    def of(cls, amqp_url: str, api_url: str) -> Broker:
        parts = urlsplit(amqp_url)
        return cls(
            vhost=unquote(parts.path[1:]) if len(parts.path) > 1 else "/",
            auth=(unquote(parts.username or "guest"), unquote(parts.password or "guest")),
            api_url=api_url or management_url(amqp_url),
            local=(parts.hostname or "127.0.0.1") in LOCAL_HOSTS,
            may_use_rabbitmqctl=not api_url,
        )

    @property
    def endpoint(self) -> str:
        return f"{self.api_url}/api/definitions/{quote(self.vhost, safe='')}"

    def rabbitmqctl(self) -> str | None:
        """The local `rabbitmqctl` when it may stand in for the API, else None."""
        return shutil.which("rabbitmqctl") if self.may_use_rabbitmqctl and self.local else None


def management_url(amqp_url: str) -> str:
    """The management API beside the broker of `amqp_url`: same host, port 15672."""
    return f"http://{urlsplit(amqp_url).hostname or '127.0.0.1'}:15672"


def save(amqp_url: str, api_url: str, out: Path) -> dict[str, Any]:
    """The vhost's definitions into `out`; what the manifest records (`saved`, or why not)."""
    broker = Broker.of(amqp_url, api_url)
    try:
        response = httpx.get(broker.endpoint, auth=broker.auth, timeout=10)
        response.raise_for_status()
        out.write_bytes(orjson.dumps(portable(response.json()), option=orjson.OPT_INDENT_2))
        return {"saved": True, "file": out.name, "vhost": broker.vhost, "source": broker.api_url}
    except (httpx.HTTPError, ValueError) as error:
        problem = f"management API at {broker.api_url} not reachable: {error}"
    ctl = broker.rabbitmqctl()
    if ctl is None:
        return {"saved": False, "reason": problem, "vhost": broker.vhost}
    try:
        everything = orjson.loads(_ctl(ctl, "export_definitions", "-"))
    except (subprocess.SubprocessError, OSError, orjson.JSONDecodeError) as error:
        return {"saved": False, "reason": f"{problem}; rabbitmqctl: {error}", "vhost": broker.vhost}
    out.write_bytes(orjson.dumps(portable(of_vhost(everything, broker.vhost)), option=orjson.OPT_INDENT_2))
    return {"saved": True, "file": out.name, "vhost": broker.vhost, "source": "rabbitmqctl"}


def of_vhost(everything: dict[str, Any], vhost: str) -> dict[str, Any]:
    """A whole broker's export cut down to one vhost, in the management API's per-vhost shape."""
    kept = {k: everything[k] for k in ("rabbit_version", "rabbitmq_version") if k in everything}
    for key in VHOST_KEYS:
        kept[key] = [
            {k: v for k, v in item.items() if k != "vhost"}
            for item in everything.get(key, [])
            if item["vhost"] == vhost
        ]
    return kept


def portable(definitions: dict[str, Any]) -> dict[str, Any]:
    """Without the bindings of queues that are not in the definitions.

    A process's own queues (a worker's control queue: exclusive, gone with its
    connection) are never exported, but their bindings are; a binding to a queue
    that does not exist fails the import.
    """
    queues = {q["name"] for q in definitions.get("queues", [])}
    bindings = [
        b for b in definitions.get("bindings", []) if b.get("destination_type") != "queue" or b["destination"] in queues
    ]
    return {**definitions, "bindings": bindings}


def load(path: Path, amqp_url: str, api_url: str) -> str:
    """Load the definitions in `path` into the vhost of `amqp_url`; say through what. BrokerDefinitionsError if not."""
    broker = Broker.of(amqp_url, api_url)
    definitions = portable(orjson.loads(path.read_bytes()))
    try:
        response = httpx.post(broker.endpoint, auth=broker.auth, json=definitions, timeout=60)
    except httpx.TransportError as error:
        ctl = broker.rabbitmqctl()
        if ctl is None:
            raise BrokerDefinitionsError(broker.vhost, f"management API at {broker.api_url}: {error}") from None
        _ctl_import(ctl, broker.vhost, definitions)
        return "rabbitmqctl import_definitions"
    if response.is_error:
        raise BrokerDefinitionsError(broker.vhost, f"{broker.endpoint} answered HTTP {response.status_code}:"
                                     f" {' '.join(response.text.split())[:300]}")  # fmt: skip
    return f"the management API at {broker.api_url}"


def _ctl(ctl: str, *args: str) -> str:
    return subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60, check=True).stdout


def _ctl_import(ctl: str, vhost: str, definitions: dict[str, Any]) -> None:
    """Import into `vhost` (which must exist) and wait until it is applied."""
    try:
        if vhost not in {v.strip() for v in _ctl(ctl, "list_vhosts", "--no-table-headers", "name").splitlines()}:
            raise BrokerDefinitionsError(vhost, f"no such vhost (create it: rabbitmqctl add_vhost {vhost})")
        into = {**definitions, **{k: [{**item, "vhost": vhost} for item in definitions.get(k, [])] for k in VHOST_KEYS}}
        with tempfile.NamedTemporaryFile("wb", suffix=".json") as file:  # 3.10 reads no "-" for stdin
            os.chmod(file.name, 0o644)  # the broker may read it as the rabbitmq user
            file.write(orjson.dumps(into))
            file.flush()
            _ctl(ctl, "import_definitions", file.name)
        deadline = time.monotonic() + IMPORT_SECONDS
        while not _applied(ctl, vhost, into):
            if time.monotonic() > deadline:
                raise BrokerDefinitionsError(vhost, f"rabbitmqctl import_definitions not applied in {IMPORT_SECONDS} s")
            time.sleep(0.2)
    except (subprocess.SubprocessError, OSError) as error:
        raise BrokerDefinitionsError(vhost, f"rabbitmqctl: {error}") from None


def _applied(ctl: str, vhost: str, definitions: dict[str, Any]) -> bool:
    """Bindings come last in an import: when every queue and as many bindings are there, all is."""
    queues = {q.strip() for q in _ctl(ctl, "list_queues", "-p", vhost, "--no-table-headers", "name").splitlines()}
    sources = _ctl(ctl, "list_bindings", "-p", vhost, "--no-table-headers", "source_name").splitlines()
    bindings = [source for source in sources if source.strip()]  # not the default exchange's own
    wanted = {q["name"] for q in definitions.get("queues", [])}
    return wanted <= queues and len(bindings) >= len(definitions.get("bindings", []))
