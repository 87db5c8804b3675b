"""Granting and revoking roles: the operator's commands on `AccessGrants` (CONTRACT v1.1, identity and roles).

A part of `Dispatcher`, like the admin commands: authorize, let the domain
decide, save. The grants aggregate is one, so two operators changing grants at
once are serialised by its version.
"""

from __future__ import annotations

from contracts.commands import GrantRole, RevokeRole
from domain.access import ACCESS_ID, AccessGrants, Action, Grant, create_access
from services.dispatcher.effects import Effects
from services.dispatcher.parts import Part


class GrantCommands(Part):
    def grant_role(self, command: GrantRole, requested_by: str | None) -> Effects:
        self.authorize(requested_by, Action.MANAGE_GRANTS)
        access = self._access()
        grant = Grant(command.principal, command.role, command.tenant)
        changed = access.grant(grant, str(requested_by), command.reason, self.clock())
        self.store.save(access)
        return Effects(result={**_described(grant), "changed": changed}, provenance=_provenance(grant))

    def revoke_role(self, command: RevokeRole, requested_by: str | None) -> Effects:
        self.authorize(requested_by, Action.MANAGE_GRANTS)
        access = self._access()
        grant = Grant(command.principal, command.role, command.tenant)
        access.revoke(grant, str(requested_by), command.reason, self.clock())
        self.store.save(access)
        return Effects(result={**_described(grant), "changed": True}, provenance=_provenance(grant))

    def _access(self) -> AccessGrants:
        access: AccessGrants | None = self.store.get_many([ACCESS_ID]).get(ACCESS_ID)
        return access or create_access(self.clock())


def _described(grant: Grant) -> dict[str, str]:
    return {"principal": grant.principal, "role": grant.role.value, "tenant": grant.tenant}


def _provenance(grant: Grant) -> dict[str, str]:
    return {"batch_id": "-", "tenant": grant.tenant, "user_id": grant.principal, "trace_id": "-"}
