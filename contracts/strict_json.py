"""Strict JSON (RFC 8259): what a body may contain beyond what a JSON parser will accept.

Python's and pydantic's parsers both read `NaN`, `Infinity`, `-Infinity`,
numbers too large for a double (`1e400` becomes infinity) and integers of any
size (orjson, the store's strict reader, holds 64 bits), and both keep the last
of two equal object keys. None of that may be stored (RFC 8259 itself warns
that integers beyond what implementations hold do not interoperate): a stored
event holding such a value cannot be read back by a strict reader (orjson), and a duplicate key means
the producer and batchq may disagree on what was asked. `strict_json_fault`
names the first such value by its path, so the refusal says where it is.

It parses with the standard library's C scanner and hooks that run only on
numbers, constants and objects; the tree is walked for the path only when a
fault was seen, so a clean body costs one parse.
"""

from __future__ import annotations

import json
import math
from typing import Any


class _NonFinite:
    def __init__(self, text: str) -> None:
        self.text = text


class _OutOfRange(_NonFinite):
    """An integer beyond what a strict reader holds (orjson: -2**63 up to 2**64 - 1)."""


_SMALLEST_INT, _LARGEST_INT = -(2**63), 2**64 - 1


class _DuplicateKeys(dict[str, Any]):
    duplicates: list[str]


def strict_json_fault(body: bytes | str) -> str | None:
    """None for strict JSON (or for text that is not JSON at all: others report that), else the fault."""
    faults = 0

    def constant(text: str) -> _NonFinite:
        nonlocal faults
        faults += 1
        return _NonFinite(text)

    def number(text: str) -> float | _NonFinite:
        value = float(text)
        return value if math.isfinite(value) else constant(text)

    def integer(text: str) -> int | _NonFinite:
        nonlocal faults
        value = int(text)
        if _SMALLEST_INT <= value <= _LARGEST_INT:
            return value
        faults += 1
        return _OutOfRange(text)

    def obj(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal faults
        found = dict(pairs)
        if len(found) == len(pairs):
            return found
        faults += 1
        seen: set[str] = set()
        flagged = _DuplicateKeys(found)
        flagged.duplicates = [key for key, _ in pairs if key in seen or seen.add(key)]  # type: ignore[func-returns-value]
        return flagged

    try:
        tree = json.loads(body, parse_constant=constant, parse_float=number, parse_int=integer, object_pairs_hook=obj)
    except (ValueError, RecursionError):
        return None
    return _describe(tree, []) if faults else None


def _describe(node: Any, path: list[str]) -> str | None:
    where = ".".join(path) or "body"
    if isinstance(node, _OutOfRange):
        return f"{where}: {node.text} is beyond the 64-bit integers a strict reader holds (-2**63 to 2**64 - 1)"
    if isinstance(node, _NonFinite):
        return f"{where}: {node.text} is not a JSON number (RFC 8259 allows finite numbers only)"
    if isinstance(node, _DuplicateKeys):
        return f"{where}: duplicate key {node.duplicates[0]!r} (RFC 8259 keys must be unique)"
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        fault = _describe(child, [*path, str(key)])
        if fault is not None:
            return fault
    return None
