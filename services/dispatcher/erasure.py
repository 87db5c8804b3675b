"""Erasure and retention (CONTRACT v1.1, QUEUE-022): the operator's command and the periodic sweep.

Both destroy keys first and record the fact second: a crash in between leaves the
data unreadable and the record owed, and doing it again destroys nothing more
and records it then. Neither rewrites an event; the history keeps its ids,
states, times and codes, and shows `"[erased]"` for the rest.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from contracts.commands import EraseDepositor
from domain.access import SYSTEM_TENANT, Action
from domain.batch import Batch
from domain.depositor import Depositor, depositor_id, erase_depositor
from domain.personal import ANY_TENANT, ERASED
from domain.retention import is_expired
from services.adapters.logging import get_logger
from services.dispatcher.effects import Effects
from services.dispatcher.parts import Part

log = get_logger("batchq.dispatcher")


class ErasureCommands(Part):
    def erase_depositor(self, command: EraseDepositor, requested_by: str | None) -> Effects:
        self.authorize(requested_by, Action.ERASE)
        keys = self.store.keys
        ref = keys.subject_ref(command.tenant, command.user_id)
        destroyed = keys.shred(ref)
        found: Depositor | None = self.store.get_many([depositor_id(ref)]).get(depositor_id(ref))
        # The record's tenant routes its event: `*` (what spans tenants) is the system's.
        tenant = SYSTEM_TENANT if command.tenant == ANY_TENANT else command.tenant
        depositor = erase_depositor(
            found,
            tenant=tenant,
            subject_ref=ref,
            erased_by=str(requested_by),
            reason=command.reason,
            keys_destroyed=destroyed,
            now=self.clock(),
        )
        self.store.save(depositor)
        result = {"tenant": command.tenant, "subject_ref": ref, "keys_destroyed": destroyed, "erased": True}
        return Effects(result=result, provenance={"batch_id": "-", "tenant": tenant, "trace_id": "-"})

    def expire_personal_data(self, batch_ids: list[UUID], now: datetime) -> list[UUID]:
        """The batches among these whose retention has passed, made unreadable and recorded as such."""
        expired: list[UUID] = []
        for batch_id, batch in self.store.get_many(batch_ids).items():
            if not isinstance(batch, Batch) or not is_expired(batch, now):
                continue
            if batch.user_id != ERASED:  # an erased depositor's keys are gone already
                self.store.keys.shred(self.store.keys.subject_ref(batch.tenant, batch.user_id), batch.id)
            batch.expire_personal_data(now)
            self.store.save(batch)
            expired.append(batch_id)
            log.info("batch_personal_data_expired", batch_id=str(batch_id), retention_days=batch.retention_days)
        return expired
