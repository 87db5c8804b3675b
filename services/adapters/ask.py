"""Asking the dispatcher: a command or a submission, over `batchq.commands` or `batchq.manifests`, and its reply.

The CLI, the API and the embedded mode's inbox all ask this way."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from contracts import names
from contracts.commands import Reply
from services.adapters.bus import Bus, Message

EXIT_OK, EXIT_REFUSED = 0, 1


async def send_command(
    bus: Bus, command: dict[str, Any], timeout: float = 30.0, *, user_id: str | None = None
) -> tuple[int, dict[str, Any]]:
    """`user_id`: the principal it is sent for (default: the connection's own user)."""
    body = orjson.dumps({"schema_version": 1, **command})
    return await send_command_body(bus, command["command"], body, timeout, user_id=user_id)


async def send_command_body(
    bus: Bus, name: str, body: bytes, timeout: float = 30.0, *, user_id: str | None = None
) -> tuple[int, dict[str, Any]]:
    """A command body exactly as given (the embedded inbox's files), under its command name."""
    message = Message(routing_key=name, body=body, correlation_id=uuid.uuid4().hex, user_id=user_id)
    return _outcome(await bus.request(names.COMMANDS_EXCHANGE, message, timeout))


async def submit(bus: Bus, body: bytes, timeout: float = 120.0) -> tuple[int, dict[str, Any]]:
    message = Message(routing_key=names.SUBMIT_ROUTING_KEY, body=body, correlation_id=uuid.uuid4().hex)
    return _outcome(await bus.request(names.MANIFESTS_EXCHANGE, message, timeout))


def _outcome(raw: bytes) -> tuple[int, dict[str, Any]]:
    reply = Reply.model_validate_json(raw)
    document = orjson.loads(raw)
    return (EXIT_OK if reply.ok else EXIT_REFUSED), document
