"""A depositor as a data subject: the record that their personal data was erased (QUEUE-022).

Erasure destroys keys, which are not events; this aggregate is its trace in the
history: who erased whom, when and why, and how many keys went. It names the
depositor only by the keyed hash (`subject_ref`) that the key table uses, so the
record itself holds no personal data. One aggregate per subject, by that hash:
erasing twice is two events on it, never two subjects.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from domain.base import BatchqAggregate, BatchqCreated, BatchqEvent, pinned

DEPOSITOR_NAMESPACE = UUID("0d5c6b1e-7a3f-4e8e-9b1d-3c2f4a6e8b10")


def depositor_id(subject_ref: str) -> UUID:
    return uuid5(DEPOSITOR_NAMESPACE, subject_ref)


@pinned
class DepositorRecorded(BatchqCreated):
    subject_ref: str

    def apply(self, depositor: Depositor) -> None:
        super().apply(depositor)
        depositor.subject_ref = self.subject_ref
        depositor.erasures = 0
        depositor.erased_at = None


@pinned
class DepositorErased(BatchqEvent):
    """The depositor's keys were destroyed: `keys_destroyed` of them (0 when erasing again found none)."""

    subject_ref: str
    erased_by: str
    reason: str
    keys_destroyed: int

    def apply(self, depositor: Depositor) -> None:
        depositor.erasures += 1
        depositor.erased_at = self.timestamp


class Depositor(BatchqAggregate):
    if TYPE_CHECKING:  # annotations only: a runtime annotation would make the aggregate a dataclass
        subject_ref: str
        erasures: int
        erased_at: datetime | None

    def erased(self, erased_by: str, reason: str, keys_destroyed: int, now: datetime) -> None:
        self._record(
            DepositorErased, now, subject_ref=self.subject_ref, erased_by=erased_by, reason=reason,
            keys_destroyed=keys_destroyed,
        )


def erase_depositor(
    depositor: Depositor | None, *, tenant: str, subject_ref: str, erased_by: str, reason: str,
    keys_destroyed: int, now: datetime,
) -> Depositor:
    """The depositor's record with one more erasure; its provenance names the operator, never the depositor."""
    if depositor is None:
        depositor = Depositor._begin(
            DepositorRecorded, depositor_id(subject_ref), now,
            tenant=tenant, user_id=erased_by, trace_id="", batch_id=None, subject_ref=subject_ref,
        )
    depositor.erased(erased_by, reason, keys_destroyed, now)
    return depositor
