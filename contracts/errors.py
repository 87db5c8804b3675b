"""The contract's error codes and the one exception that carries them.

Every refusal that leaves batchq (a reply, an `x-batchq-error` header, a CLI
message) is a `ContractError`: a code from `ErrorCode` and a reason a person
can act on. Domain errors are translated here, at the boundary.
"""

from __future__ import annotations

from enum import StrEnum

from domain.errors import DomainError


class ErrorCode(StrEnum):
    """The error codes of CONTRACT.md; a reply's `error.code` is one of these."""

    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNSUPPORTED_SCHEMA_VERSION = "UNSUPPORTED_SCHEMA_VERSION"
    NOT_FOUND = "NOT_FOUND"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    DUPLICATE_BATCH = "DUPLICATE_BATCH"
    DUPLICATE_JOB = "DUPLICATE_JOB"
    MANIFEST_UNAVAILABLE = "MANIFEST_UNAVAILABLE"
    FORBIDDEN = "FORBIDDEN"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    RETRY_LIMIT = "RETRY_LIMIT"


class ContractError(Exception):
    """A message or request refused with one of the contract's error codes."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = ErrorCode(code)
        self.reason = reason

    @classmethod
    def of(cls, error: ContractError | DomainError) -> ContractError:
        """The contract's view of any refusal: the one way from a domain (or store) error to a code."""
        return error if isinstance(error, ContractError) else cls.from_domain(error)

    @classmethod
    def from_domain(cls, error: DomainError) -> ContractError:
        """Translate a domain refusal; its `code` must name one of ours."""
        try:
            code = ErrorCode(error.code)
        except ValueError:
            raise ValueError(f"domain error code {error.code!r} is not in the contract") from error
        return cls(code, error.reason)
