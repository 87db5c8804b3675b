"""The one decode path for every inbound message body.

`decode(Model, body)` turns bytes into a frozen model or raises `ContractError`:

- not JSON, or not a JSON object: INVALID_MESSAGE "body is not a JSON object";
- `schema_version` missing or not `SCHEMA_VERSION`: UNSUPPORTED_SCHEMA_VERSION,
  whatever else is wrong with the body, so a newer message is never
  half-understood (a model with `schema_version_required = False`, the fetched
  manifest document, may omit it, but not carry another);
- not strict JSON (`NaN`, `Infinity`, a number beyond a double, a duplicate
  key): INVALID_MESSAGE naming the field, since nothing that a strict reader
  cannot read back may reach the store (`contracts.strict_json`);
- anything the model refuses: INVALID_MESSAGE, the reason naming each field by
  its path, e.g. "jobs.0.job_uuid: Input should be a valid UUID".

The target is a model class or a discriminated union such as `Command`. For a
union the discriminator is read first and the matching model validates the
rest, so error paths name the message's own fields, not the union's branches.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin, overload

import orjson
import pydantic_core
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from contracts.base import SCHEMA_VERSION
from contracts.errors import ContractError, ErrorCode
from contracts.strict_json import strict_json_fault

__all__ = ["SCHEMA_VERSION", "decode", "describe_validation_error"]

M = TypeVar("M", bound=BaseModel)

# A reason travels in a reply and an AMQP header: keep it readable and bounded.
_MAX_LISTED_ERRORS = 5


@overload
def decode(target: type[M], body: bytes) -> M: ...


@overload
def decode(target: Any, body: bytes) -> Any: ...


def decode(target: Any, body: bytes) -> Any:
    """Decode `body` as `target` (a model class or a discriminated union of models)."""
    if isinstance(target, type) and issubclass(target, BaseModel):
        return _decode_model(target, body)
    data = _json_object(body)
    _check_schema_version(data, required=True)
    _check_strict(body)
    model = _select_member(target, data)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ContractError(ErrorCode.INVALID_MESSAGE, describe_validation_error(error)) from None


def _decode_model(model: type[M], body: bytes) -> M:
    # Validating the bytes directly is the fast path (one pass, no dict), and
    # gives the same answers: `schema_version` is strict and pinned to
    # SCHEMA_VERSION, so a body of another version never validates, and a
    # refused body is examined for its version before its other faults.
    required = getattr(model, "schema_version_required", True)
    try:
        message = model.model_validate_json(body)
    except ValidationError as error:
        _check_schema_version(_json_object(body), required=required)
        _check_strict(body)
        raise ContractError(ErrorCode.INVALID_MESSAGE, describe_validation_error(error)) from None
    if required and "schema_version" not in message.model_fields_set:
        raise _unsupported_version(None)
    _check_strict(body)
    return message


def _check_strict(body: bytes) -> None:
    fault = strict_json_fault(body)
    if fault is not None:
        raise ContractError(ErrorCode.INVALID_MESSAGE, fault)


def _json_object(body: bytes) -> dict[str, Any]:
    # Lenient on purpose (pydantic's parser reads `NaN`): the version is judged
    # before strictness, so a newer message is refused for its version.
    try:
        data = pydantic_core.from_json(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ContractError(ErrorCode.INVALID_MESSAGE, "body is not a JSON object")
    return data


def _check_schema_version(data: Mapping[str, Any], *, required: bool) -> None:
    if "schema_version" not in data:
        if required:
            raise _unsupported_version(None)
        return
    version = data["schema_version"]
    # `type(...) is int`: JSON `true` is a Python bool, which equals 1.
    if type(version) is not int or version != SCHEMA_VERSION:
        raise _unsupported_version(orjson.dumps(version).decode())


def _unsupported_version(declared: str | None) -> ContractError:
    problem = "is missing" if declared is None else f"{declared} is not supported"
    return ContractError(
        ErrorCode.UNSUPPORTED_SCHEMA_VERSION,
        f"schema_version {problem}; this service reads schema_version {SCHEMA_VERSION}",
    )


def _select_member(target: Any, data: Mapping[str, Any]) -> type[BaseModel]:
    discriminator, members = _tagged_union(target)
    if discriminator not in data:
        raise ContractError(ErrorCode.INVALID_MESSAGE, f"{discriminator}: Field required")
    tag = data[discriminator]
    model = members.get(tag) if isinstance(tag, str) else None
    if model is None:
        expected = ", ".join(members)
        raise ContractError(
            ErrorCode.INVALID_MESSAGE,
            f"{discriminator}: unknown {discriminator} {orjson.dumps(tag).decode()}; expected one of {expected}",
        )
    return model


def _tagged_union(target: Any) -> tuple[str, dict[str, type[BaseModel]]]:
    """The discriminator and tag → model map of `Annotated[A | B, Field(discriminator=...)]`."""
    if get_origin(target) is Annotated:
        union, *metadata = get_args(target)
        discriminators = [
            meta.discriminator
            for meta in metadata
            if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str)
        ]
        if discriminators and get_origin(union) in (Union, types.UnionType):
            name = discriminators[0]
            return name, {str(member.model_fields[name].default): member for member in get_args(union)}
    raise TypeError(f"decode needs a model class or a discriminated union, not {target!r}")


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each refused field by its path: `jobs.0.job_uuid: <message>`."""
    details = error.errors(include_url=False, include_input=False, include_context=False)
    lines = [_describe(detail) for detail in details[:_MAX_LISTED_ERRORS]]
    if len(details) > _MAX_LISTED_ERRORS:
        lines.append(f"and {len(details) - _MAX_LISTED_ERRORS} more errors")
    return "; ".join(lines)


def _describe(detail: ErrorDetails) -> str:
    path = ".".join(str(part) for part in detail["loc"])
    return f"{path}: {detail['msg']}" if path else detail["msg"]
