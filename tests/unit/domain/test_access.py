"""The access policy over its whole table: every role, every action, own tenant, other tenant, every tenant.

`ALLOWED` is written out by hand from CONTRACT v1.1's roles table; every other
combination must be refused, naming the principal, the role and the tenant.
"""

from __future__ import annotations

import itertools

import pytest

from domain.access import (
    EVERY_TENANT,
    Action,
    ForbiddenError,
    Grant,
    Role,
    allows,
    create_access,
    decide,
)
from domain.errors import IllegalTransitionError
from tests.unit.domain.builders import at

A = Action
TENANT_READS = {A.READ}
TENANT_ADMIN = {A.READ, A.RETRY_JOB, A.CANCEL_JOB, A.DELETE_BATCH, A.UPDATE_REPORTING}

# (role, granted for, acting on) -> the actions allowed; "own" is acme, "other" is globex.
ALLOWED: dict[tuple[Role, str, str], set[Action]] = {
    (Role.PRODUCER, "acme", "acme"): {A.SUBMIT},
    (Role.PRODUCER, "acme", "globex"): set(),
    (Role.PRODUCER, "*", "globex"): {A.SUBMIT},
    (Role.ADMIN, "acme", "acme"): TENANT_ADMIN,
    (Role.ADMIN, "acme", "globex"): set(),
    (Role.ADMIN, "*", "globex"): TENANT_ADMIN,
    (Role.AUDITOR, "acme", "acme"): TENANT_READS,
    (Role.AUDITOR, "acme", "globex"): set(),
    (Role.AUDITOR, "*", "globex"): TENANT_READS,
    (Role.OPERATOR, "acme", "acme"): set(Action),
    (Role.OPERATOR, "acme", "globex"): set(Action),  # operators act for every tenant
    (Role.OPERATOR, "*", "globex"): set(Action),
}

CASES = [
    (role, granted_for, tenant, action, action in allowed)
    for (role, granted_for, tenant), allowed in ALLOWED.items()
    for action in Action
]


def test_the_table_covers_every_role() -> None:
    assert {role for role, _, _ in ALLOWED} == set(Role)


@pytest.mark.parametrize(("role", "granted_for", "tenant", "action", "allowed"), CASES)
def test_each_role_may_do_exactly_what_the_contract_says(
    role: Role, granted_for: str, tenant: str, action: Action, allowed: bool
) -> None:
    grants = frozenset({Grant("alice", role, granted_for)})

    assert allows(grants, "alice", action, tenant) is allowed
    if not allowed:
        with pytest.raises(ForbiddenError) as refused:
            decide(grants, "alice", action, tenant)
        assert refused.value.code == "FORBIDDEN"
        assert "principal alice" in refused.value.reason


@pytest.mark.parametrize("action", list(Action))
def test_another_principals_grant_allows_nothing(action: Action) -> None:
    grants = frozenset({Grant("bob", Role.OPERATOR, EVERY_TENANT)})

    assert not allows(grants, "alice", action, "acme")


@pytest.mark.parametrize("action", list(Action))
def test_a_message_without_a_principal_is_refused_everything(action: Action) -> None:
    grants = frozenset({Grant(p, r, EVERY_TENANT) for p, r in itertools.product(["alice"], Role)})

    with pytest.raises(ForbiddenError) as refused:
        decide(grants, None, action, "acme")
    assert "without a user_id property" in refused.value.reason


@pytest.mark.parametrize(
    ("action", "tenant", "reason"),
    [
        (A.SUBMIT, "globex", "principal alice may not submit: it needs role producer for tenant globex"),
        (A.RETRY_JOB, "globex", "principal alice may not retry_job: it needs role admin for tenant globex"),
        (A.READ, "globex", "principal alice may not read: it needs role auditor for tenant globex"),
        (A.PAUSE_QUEUE, None, "principal alice may not pause_queue: it needs role operator for every tenant"),
    ],
)
def test_a_refusal_names_the_principal_the_role_and_the_tenant_it_lacked(
    action: Action, tenant: str | None, reason: str
) -> None:
    with pytest.raises(ForbiddenError) as refused:
        decide(frozenset({Grant("alice", Role.PRODUCER, "acme")}), "alice", action, tenant)

    assert refused.value.reason == reason


def test_grants_are_events_and_a_revoked_grant_allows_nothing() -> None:
    access = create_access(at(0))
    producer = Grant("alice", Role.PRODUCER, "acme")

    assert access.grant(producer, "root", "new team", at(1))
    assert not access.grant(producer, "root", "again", at(2))  # already held: nothing recorded
    access.revoke(producer, "root", "left the team", at(3))

    assert [type(e).__name__ for e in access.collect_events()] == [
        "AccessCreated",
        "PrincipalGranted",
        "PrincipalRevoked",
    ]
    assert not allows(access.grants, "alice", A.SUBMIT, "acme")


def test_revoking_a_grant_nobody_holds_is_refused() -> None:
    access = create_access(at(0))

    with pytest.raises(IllegalTransitionError, match="holds no role producer for acme"):
        access.revoke(Grant("alice", Role.PRODUCER, "acme"), "root", "", at(1))


def test_the_last_operator_cannot_be_revoked() -> None:
    access = create_access(at(0))
    root = Grant("root", Role.OPERATOR, EVERY_TENANT)
    access.grant(root, "root", "first operator", at(1))

    with pytest.raises(IllegalTransitionError, match="last operator"):
        access.revoke(root, "root", "", at(2))

    access.grant(Grant("ops", Role.OPERATOR, EVERY_TENANT), "root", "", at(3))
    access.revoke(root, "ops", "rotated", at(4))
    assert access.of("root") == []
