"""Setting quotas: the operator's command on `Quotas` (CONTRACT v1.1, quotas). Checking them is intake's."""

from __future__ import annotations

from contracts.commands import SetQuota
from domain.access import Action
from domain.quotas import QUOTAS_ID, Quotas, create_quotas
from services.dispatcher.effects import Effects
from services.dispatcher.parts import Part


class QuotaCommands(Part):
    def set_quota(self, command: SetQuota, requested_by: str | None) -> Effects:
        self.authorize(requested_by, Action.MANAGE_QUOTAS)
        quotas: Quotas = self.store.get_many([QUOTAS_ID]).get(QUOTAS_ID) or create_quotas(self.clock())
        quotas.set(command.scope, command.subject, command.limits, str(requested_by), command.reason, self.clock())
        self.store.save(quotas)
        limits = quotas.of(command.scope, command.subject).as_dict()
        result = {"scope": command.scope.value, "subject": command.subject, "limits": limits}
        tenant = command.subject if command.scope.value == "tenant" else "-"
        return Effects(result=result, provenance={"batch_id": "-", "tenant": tenant, "user_id": "-", "trace_id": "-"})
