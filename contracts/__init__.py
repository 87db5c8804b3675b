"""The wire: pydantic models of every message batchq sends or accepts.

Submodules: `names` (exchanges, queues, routing keys), `errors` (error codes),
`manifest` (submissions, jobs, limits), `commands` (admin commands, replies),
`envelope` (published events), `parsing` (the one decode path), `export`
(JSON Schema files under `contracts/schemas/`). Nothing here does I/O.
"""

from contracts.base import SCHEMA_VERSION
from contracts.commands import (
    CancelJob,
    Command,
    DeleteBatch,
    PauseQueue,
    Reply,
    ReplyError,
    ResumeQueue,
    RetryJob,
    UpdateReporting,
)
from contracts.envelope import AggregateType, EventEnvelope
from contracts.errors import ContractError, ErrorCode
from contracts.manifest import (
    Item,
    JobSpec,
    Limits,
    ManifestDocument,
    Submission,
    Tags,
    check_limits,
    check_manifest_size,
    check_message_size,
    content_fingerprint,
)
from contracts.parsing import decode

__all__ = [
    "SCHEMA_VERSION",
    "AggregateType",
    "CancelJob",
    "Command",
    "ContractError",
    "DeleteBatch",
    "ErrorCode",
    "EventEnvelope",
    "Item",
    "JobSpec",
    "Limits",
    "ManifestDocument",
    "PauseQueue",
    "Reply",
    "ReplyError",
    "ResumeQueue",
    "RetryJob",
    "Submission",
    "Tags",
    "UpdateReporting",
    "check_limits",
    "check_manifest_size",
    "check_message_size",
    "content_fingerprint",
    "decode",
]
