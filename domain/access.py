"""Who may do what, for which tenant (QUEUE-020): roles, grants as events, and the one decision.

A principal is a RabbitMQ user (the broker validates the `user_id` property of
each message); it holds roles, each for one tenant or for every tenant (`*`).
`decide` is the whole policy, a pure function over the principal's grants, so
the dispatcher, the API and the CLI all ask the same question the same way.
Grants live in one aggregate, `AccessGrants`, changed by operators only; its
events say who granted or revoked what, and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from domain.base import BatchqAggregate, BatchqCreated, BatchqEvent, pinned
from domain.errors import DomainError, IllegalTransitionError

ACCESS_ID = uuid5(UUID("6b0d3d4e-5c7a-4f37-9d1e-0b7f0c1a2e3d"), "batchq.access")
SYSTEM_TENANT = "batchq"
EVERY_TENANT = "*"


class Role(StrEnum):
    PRODUCER = "producer"
    ADMIN = "admin"
    AUDITOR = "auditor"
    OPERATOR = "operator"


class Action(StrEnum):
    SUBMIT = "submit"
    READ = "read"
    RETRY_JOB = "retry_job"
    CANCEL_JOB = "cancel_job"
    DELETE_BATCH = "delete_batch"
    UPDATE_REPORTING = "update_reporting"
    # The operator's own: none of them is about one tenant's batches.
    PAUSE_QUEUE = "pause_queue"
    RESUME_QUEUE = "resume_queue"
    MANAGE_GRANTS = "manage_grants"
    MANAGE_QUOTAS = "manage_quotas"
    MANAGE_TOKENS = "manage_tokens"
    ERASE = "erase"
    CANARY = "canary"
    CHECKPOINT = "checkpoint"


# What each role may do for the tenants it holds the role for (CONTRACT v1.1, the roles table).
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.PRODUCER: frozenset({Action.SUBMIT}),
    Role.ADMIN: frozenset(
        {Action.READ, Action.RETRY_JOB, Action.CANCEL_JOB, Action.DELETE_BATCH, Action.UPDATE_REPORTING}
    ),
    Role.AUDITOR: frozenset({Action.READ}),
    Role.OPERATOR: frozenset(Action),
}

# The role a refusal names as missing: the least one that would have allowed the action.
_FROM_LEAST = (Role.AUDITOR, Role.PRODUCER, Role.ADMIN, Role.OPERATOR)
LEAST_ROLE: dict[Action, Role] = {
    action: next(role for role in _FROM_LEAST if action in ROLE_ACTIONS[role]) for action in Action
}


@dataclass(frozen=True, order=True)
class Grant:
    principal: str
    role: Role
    tenant: str  # a tenant, or EVERY_TENANT

    def covers(self, tenant: str | None) -> bool:
        """Operators act for every tenant; other roles only where granted."""
        return self.role is Role.OPERATOR or self.tenant in (EVERY_TENANT, tenant)


class ForbiddenError(DomainError):
    """The principal lacks the role this action needs for this tenant."""

    code = "FORBIDDEN"

    def __init__(self, principal: str | None, action: Action, tenant: str | None) -> None:
        role = LEAST_ROLE[action]
        where = f"for tenant {tenant}" if tenant and role is not Role.OPERATOR else "for every tenant"
        who = f"principal {principal}" if principal else "a message without a user_id property"
        super().__init__(f"{who} may not {action.value}: it needs role {role.value} {where}")
        self.principal = principal
        self.action = action
        self.tenant = tenant
        self.role = role


def allows(grants: frozenset[Grant], principal: str | None, action: Action, tenant: str | None) -> bool:
    """Whether any of the principal's grants allows the action for the tenant."""
    return principal is not None and any(
        grant.principal == principal and action in ROLE_ACTIONS[grant.role] and grant.covers(tenant)
        for grant in grants
    )


def decide(grants: frozenset[Grant], principal: str | None, action: Action, tenant: str | None) -> None:
    """Allow, or raise `ForbiddenError` naming the principal, the role and the tenant it lacked."""
    if not allows(grants, principal, action, tenant):
        raise ForbiddenError(principal, action, tenant)


@pinned
class AccessCreated(BatchqCreated):
    def apply(self, access: AccessGrants) -> None:
        super().apply(access)
        access.grants = frozenset()


@pinned
class PrincipalGranted(BatchqEvent):
    principal: str
    role: str
    granted_for: str  # the tenant, or "*"
    granted_by: str
    reason: str = ""

    def apply(self, access: AccessGrants) -> None:
        access.grants = access.grants | {Grant(self.principal, Role(self.role), self.granted_for)}


@pinned
class PrincipalRevoked(BatchqEvent):
    principal: str
    role: str
    granted_for: str
    revoked_by: str
    reason: str = ""

    def apply(self, access: AccessGrants) -> None:
        access.grants = access.grants - {Grant(self.principal, Role(self.role), self.granted_for)}


class AccessGrants(BatchqAggregate):
    """Every grant of the installation: one aggregate, so each change is checked against the current set."""

    if TYPE_CHECKING:
        grants: frozenset[Grant]

    def grant(self, grant: Grant, granted_by: str, reason: str, now: datetime) -> bool:
        """Record the grant; False (nothing recorded) if the principal already holds it."""
        if grant in self.grants:
            return False
        self._record(
            PrincipalGranted,
            now,
            principal=grant.principal,
            role=grant.role.value,
            granted_for=grant.tenant,
            granted_by=granted_by,
            reason=reason,
        )
        return True

    def revoke(self, grant: Grant, revoked_by: str, reason: str, now: datetime) -> None:
        if grant not in self.grants:
            why = f"{grant.principal} holds no role {grant.role.value} for {grant.tenant}"
            raise IllegalTransitionError("grant", self.id, "ABSENT", "revoke", why)
        if grant.role is Role.OPERATOR and not self.operators_besides(grant):
            why = "it is the last operator grant: grant another operator first"
            raise IllegalTransitionError("grant", self.id, "LAST_OPERATOR", "revoke", why)
        self._record(
            PrincipalRevoked,
            now,
            principal=grant.principal,
            role=grant.role.value,
            granted_for=grant.tenant,
            revoked_by=revoked_by,
            reason=reason,
        )

    def operators_besides(self, grant: Grant) -> list[Grant]:
        return [g for g in self.grants if g.role is Role.OPERATOR and g != grant]

    def of(self, principal: str) -> list[Grant]:
        return sorted(g for g in self.grants if g.principal == principal)


def first_operator(access: AccessGrants | None, principal: str, now: datetime) -> AccessGrants | None:
    """On an installation with no operator yet, `principal` becomes one (for every tenant); else None."""
    access = access or create_access(now)
    if any(grant.role is Role.OPERATOR for grant in access.grants):
        return None
    access.grant(Grant(principal, Role.OPERATOR, EVERY_TENANT), principal, "the first operator (batchq migrate)", now)
    return access


def create_access(now: datetime) -> AccessGrants:
    return AccessGrants._begin(
        AccessCreated, ACCESS_ID, now, tenant=SYSTEM_TENANT, user_id=SYSTEM_TENANT, trace_id="", batch_id=None
    )
