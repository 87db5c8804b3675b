"""Which fields of which events hold a depositor's personal data (CONTRACT v1.1, retention and erasure).

The contract's list: the depositor's `user_id` and `depositor_email`, job
`params`, `payload_url`, item keys, error reasons and tracebacks, and report
contents; batchq adds what a handler returns or says (`result`, a progress
`message`) and the free-form `tags`. Every field of every stored event is
classified here, one way or the other: the unit test fails on a new field
until it is, so personal data cannot slip into the store in clear unnoticed.

The data subject of an event is its provenance: (`tenant`, `user_id`). Its
`user_id` is personal everywhere; the other provenance fields (ids, times,
tenant, trace) and the library's own are kept in clear so the engine and the
read model never need a key to move a job.
"""

from __future__ import annotations

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
    "BatchSubmitted": (frozenset({"depositor_email", "tags"}), frozenset({"fingerprint", "job_uuids", "pool"})),
    "BatchStarted": (frozenset(), frozenset()),
    "BatchReportingStarted": (frozenset(), frozenset({"job_counts"})),
    "BatchReported": (frozenset(), frozenset({"changed", "job_states", "kind", "message_id", "outcome"})),
    "BatchCompleted": (frozenset(), frozenset()),
    "BatchFailed": (frozenset(), frozenset()),
    "BatchUpdateReportingRequested": (frozenset(), frozenset({"reason", "requested_by"})),
    "BatchDeleted": (frozenset(), frozenset({"reason", "requested_by"})),
    "JobSubmitted": (
        frozenset({"params", "payload_url", "item", "tags"}),
        frozenset({"depends_on", "handler", "max_attempts", "pool"}),
    ),
    "JobStarted": (frozenset(), frozenset({"attempt", "pool", "worker_id"})),
    "JobRerouted": (frozenset(), frozenset({"pool", "reason"})),
    "JobProgressed": (frozenset({"message"}), frozenset({"attempt", "progress"})),
    "JobCompleted": (frozenset({"result"}), frozenset({"attempt"})),
    "JobFailed": (frozenset({"error"}), frozenset({"attempt"})),  # its code and stage are copied out in clear
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
    """The fields of this event type to encrypt under its subject's key (the subject's `user_id` aside)."""
    return CLASSIFIED[event_type][0]
