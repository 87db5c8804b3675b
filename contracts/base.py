"""The schema version and what every wire model shares.

`SCHEMA_VERSION` is defined here and nowhere else: the models default to it,
`contracts.parsing` refuses any other value before validating, and the JSON
Schema export pins it as a constant. A message that changes shape bumps it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION: Final = 1

# The version a message declares. Strict (no `true`, `"1"` or `1.0`) and
# pinned to the one version this code speaks, so neither a body nor a model
# built in code can claim another.
SchemaVersion = Annotated[
    int,
    Field(
        strict=True,
        ge=SCHEMA_VERSION,
        le=SCHEMA_VERSION,
        json_schema_extra={"const": SCHEMA_VERSION},
    ),
]

IDENTIFIER_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,62}$"

# `tenant` and `user_id`. The pattern keeps them safe as one segment of a topic
# routing key (no dots, no wildcards) and in RabbitMQ permission regexes.
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]


def _require_constants(schema: dict[str, Any], model: type[Any]) -> None:
    """Mark fields with a constant value (`schema_version`, `command`) as required.

    They have defaults so that code can build messages without repeating them,
    but on the wire every message carries them, and the published schema says so.
    """
    properties = schema.get("properties", {})
    constants = [name for name, prop in properties.items() if "const" in prop]
    if not getattr(model, "schema_version_required", True):
        constants = [name for name in constants if name != "schema_version"]
    required: list[str] = schema.setdefault("required", [])
    required[:0] = [name for name in constants if name not in required]


class WireModel(BaseModel):
    """Base of the strict inbound messages: immutable, unknown fields refused.

    `schema_version_required` is true for message bodies, whose version
    `decode` checks before anything else; a document that is not a message
    (a manifest fetched over HTTP) sets it false and may omit the version.
    """

    schema_version_required: ClassVar[bool] = True

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra=_require_constants,
    )

    def to_json(self) -> bytes:
        """The message body: UTF-8 JSON of every field."""
        return orjson.dumps(self.model_dump(mode="json"))
