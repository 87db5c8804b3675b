"""Errors the domain raises. Each carries its ids and maps to a contract error code."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID


class DomainError(Exception):
    """Base of every refusal the domain makes."""

    code: ClassVar[str] = "INVALID_MESSAGE"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IllegalTransitionError(DomainError):
    """An action that the state machine does not allow from the current state."""

    code = "ILLEGAL_TRANSITION"

    def __init__(self, kind: str, aggregate_id: UUID, state: str, action: str, why: str = "") -> None:
        reason = f"{kind} {aggregate_id} is {state}; cannot {action}"
        super().__init__(f"{reason}: {why}" if why else reason)
        self.kind = kind
        self.aggregate_id = aggregate_id
        self.state = state
        self.action = action


class NotFoundError(DomainError):
    """No aggregate of this kind with this id (or none the asker may see)."""

    code = "NOT_FOUND"

    def __init__(self, kind: str, aggregate_id: UUID) -> None:
        super().__init__(f"{kind} {aggregate_id} not found")
        self.kind = kind
        self.aggregate_id = aggregate_id


class UnrepresentableError(DomainError):
    """A value that no stored event may hold (NaN, an infinity): strict JSON only."""

    code = "INVALID_MESSAGE"


class RetryLimitError(DomainError):
    """An automatic retry past the job's `max_attempts`."""

    code = "RETRY_LIMIT"

    def __init__(self, job_uuid: UUID, attempts: int, max_attempts: int) -> None:
        super().__init__(f"job {job_uuid} has used {attempts} of {max_attempts} attempts")
        self.job_uuid = job_uuid


class InvalidDependenciesError(DomainError):
    """A submission whose `depends_on` graph names unknown jobs or has a cycle."""

    code = "INVALID_MESSAGE"


class DuplicateJobError(DomainError):
    code = "DUPLICATE_JOB"

    def __init__(self, job_uuid: UUID) -> None:
        super().__init__(f"job_uuid {job_uuid} already exists")
        self.job_uuid = job_uuid


class DuplicateBatchError(DomainError):
    code = "DUPLICATE_BATCH"

    def __init__(self, batch_id: UUID) -> None:
        super().__init__(f"batch {batch_id} already exists with other content")
        self.batch_id = batch_id
