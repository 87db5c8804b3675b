"""The job messages on `batchq.jobs`: which jobs a worker should try to claim.

Internal to batchq (the contract fixes only the exchange and the pool routing
key). A message names one job or several: several to a message keeps the
per-job cost of a hop down; a worker that cannot start them all soon passes the
rest back to the queue, so long jobs still spread across workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import orjson

from contracts.base import SCHEMA_VERSION
from contracts.errors import ContractError, ErrorCode

JOBS_PER_MESSAGE = 50


def encode_job_message(job_uuids: Sequence[UUID]) -> bytes:
    return orjson.dumps({"schema_version": SCHEMA_VERSION, "jobs": [str(j) for j in job_uuids]})


def decode_job_message(body: bytes) -> list[UUID]:
    """The job ids of a message: `{"jobs": [...]}` or a single `{"job_uuid": ...}`."""
    try:
        document = orjson.loads(body)
        if document.get("schema_version") != SCHEMA_VERSION:
            raise ContractError(ErrorCode.UNSUPPORTED_SCHEMA_VERSION, "job message schema_version must be 1")
        if "jobs" in document:
            return [UUID(j) for j in document["jobs"]]
        return [UUID(document["job_uuid"])]
    except (orjson.JSONDecodeError, AttributeError, KeyError, ValueError, TypeError) as error:
        raise ContractError(ErrorCode.INVALID_MESSAGE, f"not a job message: {error}") from None


def chunks(job_uuids: Sequence[UUID], size: int = JOBS_PER_MESSAGE) -> list[Sequence[UUID]]:
    return [job_uuids[i : i + size] for i in range(0, len(job_uuids), size)]
