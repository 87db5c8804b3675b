"""Which fields of which events hold a depositor's personal data (CONTRACT v1.1, retention and erasure).

The contract's list: the depositor's `user_id` and `depositor_email`, job
`params`, `payload_url`, item keys, error reasons and tracebacks, and report
contents; batchq adds what a handler returns or says (`result`, a progress
`message`) and the free-form `tags`. Every field of every stored event is
classified here, one way or the other: the unit test fails on a new field
until it is, so personal data cannot slip into the store in clear unnoticed.

The data subject of an event of a depositor's aggregate (batch, job, item) is
its provenance: (`tenant`, `user_id`), and its personal data belongs to the
batch it names, so that retention can erase one batch and erasure all of a
depositor's. Its `user_id` is personal; the other provenance fields (ids, times,
tenant, trace) and the library's own are kept in clear so the engine and the
read model never need a key to move a job. The system's aggregates (queue,
access, quotas, canary, checkpoints) name principals, not depositors; the one
personal field among them, a depositor's quota, belongs to the subject
(`*`, that user).

A field may be personal only in part: `error.reason` seals the error's reason
and traceback and leaves its code and stage in clear, which the engine needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

# What a reader sees in place of personal data whose key was destroyed.
ERASED = "[erased]"
# The aggregates whose events are a depositor's (their module under domain/).
DEPOSITOR_AGGREGATES = frozenset({"batch", "job", "item"})
# The tenant of the data subjects that span tenants (a depositor's quota).
ANY_TENANT = "*"

# Kept in clear on every event: ids, versions, times, the tenant, the trace.
PROVENANCE_IN_CLEAR = frozenset(
    {
        "originator_id",
        "originator_id_type",
        "originator_topic",
        "originator_version",
        "timestamp",
        "tenant",
        "trace_id",
        "batch_id",
        "schema_version",
    }
)
SUBJECT_FIELD = "user_id"  # personal on every event: the depositor

# Per event type: (personal fields, fields in clear), beyond the provenance.
CLASSIFIED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "BatchSubmitted": (
        frozenset({"depositor_email", "tags"}),
        frozenset({"fingerprint", "job_uuids", "pool", "retention_days"}),
    ),
    "BatchPersonalDataExpired": (frozenset(), frozenset({"retention_days"})),
    "DepositorRecorded": (frozenset(), frozenset({"subject_ref"})),
    "DepositorErased": (frozenset(), frozenset({"erased_by", "reason", "subject_ref", "keys_destroyed"})),
    "BatchStarted": (frozenset(), frozenset()),
    "BatchReportingStarted": (frozenset(), frozenset({"job_counts", "not_completed"})),
    "BatchReported": (frozenset(), frozenset({"changed", "job_states", "kind", "message_id", "outcome", "withheld"})),
    "BatchCompleted": (frozenset(), frozenset()),
    "BatchFailed": (frozenset(), frozenset()),
    "BatchUpdateReportingRequested": (frozenset(), frozenset({"reason", "requested_by"})),
    "BatchDeleted": (frozenset(), frozenset({"reason", "requested_by"})),
    "JobSubmitted": (
        frozenset({"params", "payload_url", "item.key", "tags"}),
        frozenset({"depends_on", "handler", "max_attempts", "pool", "item"}),
    ),
    "JobStarted": (frozenset(), frozenset({"attempt", "pool", "worker_id"})),
    "JobRerouted": (frozenset(), frozenset({"pool", "reason"})),
    "JobProgressed": (frozenset({"message"}), frozenset({"attempt", "progress"})),
    "JobCompleted": (frozenset({"result"}), frozenset({"attempt"})),
    # Its error's code and stage stay in clear: the engine needs them.
    "JobFailed": (frozenset({"error.reason", "error.traceback"}), frozenset({"attempt", "error"})),
    "JobRetried": (frozenset(), frozenset({"automatic", "not_before", "override", "reason", "requested_by"})),
    "JobCancelled": (frozenset(), frozenset({"attempt", "cause_job_uuid", "reason"})),
    "JobSkipped": (frozenset({"reason"}), frozenset({"as_done", "earlier_job_uuid", "earlier_status"})),
    "JobAbandoned": (frozenset(), frozenset({"code", "reason"})),
    "JobStuck": (frozenset(), frozenset({"attempt", "silent_seconds"})),
    "ItemClaimed": (frozenset({"key"}), frozenset({"job_uuid", "target", "version"})),
    "ItemReclaimed": (frozenset(), frozenset({"job_uuid"})),
    "QueueCreated": (frozenset(), frozenset()),
    "QueuePaused": (frozenset(), frozenset({"reason", "requested_by"})),
    "QueueResumed": (frozenset(), frozenset({"reason", "requested_by"})),
    "AccessCreated": (frozenset(), frozenset()),
    "PrincipalGranted": (frozenset(), frozenset({"granted_by", "granted_for", "principal", "reason", "role"})),
    "PrincipalRevoked": (frozenset(), frozenset({"granted_for", "principal", "reason", "revoked_by", "role"})),
    "QuotasCreated": (frozenset(), frozenset()),
    "CanaryCreated": (frozenset(), frozenset()),
    "CanaryStarted": (frozenset(), frozenset({"canary_tenant", "percent", "reason", "requested_by"})),
    "CanaryPromoted": (frozenset(), frozenset({"reason", "requested_by"})),
    "CanaryAborted": (frozenset(), frozenset({"reason", "requested_by"})),
    # A depositor's quota names the depositor.
    "QuotaSet": (frozenset({"subject"}), frozenset({"limits", "reason", "scope", "set_by"})),
    "CheckpointCreated": (frozenset(), frozenset({"label", "location", "position", "store_schema_version"})),
}


def personal_fields(event_type: str) -> frozenset[str]:
    """The fields (or `field.part`s) of this event type sealed under its subject's key, `user_id` aside."""
    return CLASSIFIED[event_type][0]


def field_of(path: str) -> str:
    """The event field a personal path is part of: `error` for `error.reason`."""
    return path.partition(".")[0]


@dataclass(frozen=True)
class DataSubject:
    """Whose personal data an event holds, and the batch it belongs to (None: not a batch's)."""

    tenant: str
    user_id: str
    scope: UUID | None
    is_provenance: bool  # the event's own `user_id` names the subject (so it is sealed too)


def data_subject(aggregate: str, event_type: str, fields: Mapping[str, Any]) -> DataSubject | None:
    """The data subject of an event, or None for an event that holds no depositor's data."""
    if aggregate in DEPOSITOR_AGGREGATES:
        return DataSubject(fields["tenant"], fields["user_id"], fields.get("batch_id"), True)
    if event_type == "QuotaSet" and fields.get("scope") == "user":
        return DataSubject(ANY_TENANT, fields["subject"], None, False)
    return None
