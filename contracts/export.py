"""JSON Schema files generated from the models, for people and programs outside batchq.

`python -m contracts.export` rewrites `contracts/schemas/<name>.json`;
`python -m contracts.export --check` changes nothing and exits 1 when a checked-in
file differs from what the models generate (run in CI and in the unit tests).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import BaseModel, TypeAdapter

from contracts.commands import Command, Reply
from contracts.envelope import EventEnvelope, EventMessage
from contracts.manifest import ManifestDocument, Submission

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "schemas"
_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

SCHEMA_SOURCES: Final[dict[str, Any]] = {
    "submission": Submission,
    "manifest_document": ManifestDocument,
    "command": Command,
    "reply": Reply,
    "event_envelope": EventEnvelope,
    "event_message": EventMessage,
}


def generate(name: str) -> bytes:
    """The schema file `name`.json as it should read, byte for byte."""
    source = SCHEMA_SOURCES[name]
    if isinstance(source, type) and issubclass(source, BaseModel):
        schema = source.model_json_schema()
    else:
        schema = TypeAdapter(source).json_schema()
    schema = {"$schema": _DIALECT, "title": name, **schema}
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def stale_files(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Schema files that are missing or differ from what the models generate."""
    stale = []
    for name in SCHEMA_SOURCES:
        path = directory / f"{name}.json"
        if not path.is_file() or path.read_bytes() != generate(name):
            stale.append(path)
    return stale


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file; returns the ones that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = stale_files(directory)
    for path in changed:
        path.write_bytes(generate(path.stem))
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.export", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a schema file is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path} (run python -m contracts.export)", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
