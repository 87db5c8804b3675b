"""Admin commands on `batchq.commands` and the replies the dispatcher sends.

Each command is its own frozen model, told apart by its `command` field (also
its routing key); `Command` is their discriminated union, decoded with
`contracts.parsing.decode(Command, body)`. `user_id` in the body says who asks,
but services trust the broker's validated `user_id` property over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from pydantic import Field, StringConstraints, model_validator

from contracts.base import SCHEMA_VERSION, Identifier, SchemaVersion, WireModel
from contracts.errors import ErrorCode
from contracts.names import CommandName
from domain.access import Role
from domain.quotas import LIMIT_NAMES, Scope

Reason = Annotated[str, StringConstraints(max_length=2000)]
# A RabbitMQ user name as batchq accepts it for a principal.
Principal = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")]
TenantOrEvery = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z0-9][a-z0-9_-]{0,62})$")]


class _CommandBase(WireModel):
    """Fields every command has. Publish `to_json()` under the routing key `command`."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    user_id: Identifier | None = None


class RetryJob(_CommandBase):
    """Run a job again: a FAILED one, or a finished one with `override`."""

    command: Literal[CommandName.RETRY_JOB] = CommandName.RETRY_JOB
    job_uuid: UUID
    override: bool = False
    reason: Reason = ""


class CancelJob(_CommandBase):
    """Cancel a PENDING job and the jobs that depend on it."""

    command: Literal[CommandName.CANCEL_JOB] = CommandName.CANCEL_JOB
    job_uuid: UUID


class DeleteBatch(_CommandBase):
    """Mark a batch DELETED and cancel its unfinished jobs."""

    command: Literal[CommandName.DELETE_BATCH] = CommandName.DELETE_BATCH
    batch_id: UUID


class UpdateReporting(_CommandBase):
    """Send a FAILED batch to UPDATE_REPORTING after some of its jobs were retried."""

    command: Literal[CommandName.UPDATE_REPORTING] = CommandName.UPDATE_REPORTING
    batch_id: UUID


class PauseQueue(_CommandBase):
    """Start no job until resumed; reading and managing still work."""

    command: Literal[CommandName.PAUSE_QUEUE] = CommandName.PAUSE_QUEUE
    reason: Reason | None = None


class ResumeQueue(_CommandBase):
    """Let jobs start again after `pause_queue`."""

    command: Literal[CommandName.RESUME_QUEUE] = CommandName.RESUME_QUEUE
    reason: Reason | None = None


class _RoleCommand(_CommandBase):
    principal: Principal
    role: Role
    tenant: TenantOrEvery = "*"
    reason: Reason = ""


class GrantRole(_RoleCommand):
    """Give a principal a role for one tenant or every tenant (`*`); operators only."""

    command: Literal[CommandName.GRANT_ROLE] = CommandName.GRANT_ROLE


class RevokeRole(_RoleCommand):
    """Take a role back; operators only, and never the last operator's."""

    command: Literal[CommandName.REVOKE_ROLE] = CommandName.REVOKE_ROLE


QuotaLimit = Annotated[int, Field(ge=0)]


class SetQuota(_CommandBase):
    """Set some of a tenant's or a depositor's quotas (the others stay); operators only."""

    command: Literal[CommandName.SET_QUOTA] = CommandName.SET_QUOTA
    scope: Scope
    subject: Identifier
    max_active_jobs: QuotaLimit | None = None
    max_jobs_per_batch: QuotaLimit | None = None
    max_batches_per_day: QuotaLimit | None = None
    max_retention_days: QuotaLimit | None = None
    reason: Reason = ""

    @property
    def limits(self) -> dict[str, int | None]:
        """The limits this command sets (a field left out is not changed)."""
        return {name: getattr(self, name) for name in LIMIT_NAMES if name in self.model_fields_set}


class StartCanary(_CommandBase):
    """Send `percent` of new jobs (of one tenant, or all) to the worker pool `canary`; operators only."""

    command: Literal[CommandName.START_CANARY] = CommandName.START_CANARY
    percent: Annotated[float, Field(gt=0, le=100)]
    tenant: Identifier | None = None
    reason: Reason = ""


class PromoteCanary(_CommandBase):
    """End the canary stage: the new version is good (roll it out to `default`)."""

    command: Literal[CommandName.PROMOTE_CANARY] = CommandName.PROMOTE_CANARY
    reason: Reason = ""


class AbortCanary(_CommandBase):
    """End the canary stage and send its waiting jobs back to `default`."""

    command: Literal[CommandName.ABORT_CANARY] = CommandName.ABORT_CANARY
    reason: Reason = ""


class EraseDepositor(_CommandBase):
    """Make a depositor's personal data unreadable for good (crypto-shredding); operators only.

    `tenant` `*` erases what names the depositor across tenants (a depositor's quota).
    """

    command: Literal[CommandName.ERASE_DEPOSITOR] = CommandName.ERASE_DEPOSITOR
    tenant: TenantOrEvery
    user_id: Identifier
    reason: Reason = ""


Command = Annotated[
    RetryJob
    | CancelJob
    | DeleteBatch
    | UpdateReporting
    | PauseQueue
    | ResumeQueue
    | GrantRole
    | RevokeRole
    | SetQuota
    | StartCanary
    | PromoteCanary
    | AbortCanary
    | EraseDepositor,
    Field(discriminator="command"),
]


class ReplyError(WireModel):
    """Why a command or submission was refused."""

    code: ErrorCode
    reason: str


class Reply(WireModel):
    """The answer to a message that had `reply_to` set.

    On the wire: `{"schema_version": 1, "ok": true, "result": {...}}` or
    `{"schema_version": 1, "ok": false, "error": {"code": ..., "reason": ...}}`.
    """

    schema_version: SchemaVersion = SCHEMA_VERSION
    ok: bool
    result: dict[str, Any] | None = None
    error: ReplyError | None = None

    @model_validator(mode="after")
    def _result_or_error(self) -> Reply:
        if self.ok and self.error is not None:
            raise ValueError("a reply with ok=true carries no error")
        if not self.ok and (self.error is None or self.result is not None):
            raise ValueError("a reply with ok=false carries an error and no result")
        return self

    @classmethod
    def success(cls, result: Mapping[str, Any] | None = None) -> Reply:
        """`{"ok": true, "result": result}`; `result` defaults to `{}`."""
        return cls(ok=True, result=dict(result or {}))

    @classmethod
    def failure(cls, code: ErrorCode, reason: str) -> Reply:
        """`{"ok": false, "error": {"code": code, "reason": reason}}`."""
        return cls(ok=False, error=ReplyError(code=code, reason=reason))

    def to_json(self) -> bytes:
        """The reply body, without the member (`result` or `error`) that does not apply."""
        absent = "error" if self.ok else "result"
        return orjson.dumps(self.model_dump(mode="json", exclude={absent}))
