"""Manifest submissions: the batch a producer hands in, and its jobs.

A `Submission` arrives on `batchq.manifests` carrying its jobs either inline
(`jobs`) or as a `manifest_url` whose document is a `ManifestDocument`. The
models check the shape of one message; `check_limits` checks its size against
the operator's `Limits`; whether ids already exist elsewhere is the store's
question, not this module's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final
from uuid import UUID

import orjson
from pydantic import ConfigDict, Field, HttpUrl, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from contracts.base import SCHEMA_VERSION, Identifier, SchemaVersion, WireModel
from contracts.errors import ContractError, ErrorCode

_MIB: Final = 1024 * 1024

Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
HandlerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$")]


class Item(WireModel):
    """The release/retailer identity of a job's work: one `(target, key, version)` runs once."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    version: int = Field(ge=1)
    target: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class JobSpec(WireModel):
    """One job of a batch as the producer describes it. Only `job_uuid` is required."""

    job_uuid: UUID
    handler: HandlerName = "noop"
    params: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[UUID] = Field(default_factory=list)
    max_attempts: int = Field(default=1, ge=1, le=100)
    payload_url: HttpUrl | None = None
    item: Item | None = None


def _unique_job_uuids(jobs: list[JobSpec]) -> list[JobSpec]:
    seen: set[UUID] = set()
    for job in jobs:
        if job.job_uuid in seen:
            raise PydanticCustomError(
                "duplicate_job_uuid",
                "job_uuid {job_uuid} appears more than once",
                {"job_uuid": str(job.job_uuid)},
            )
        seen.add(job.job_uuid)
    return jobs


class ManifestDocument(WireModel):
    """The document at a submission's `manifest_url`: `{"jobs": [JobSpec, ...]}`.

    Not a message but a document a producer serves, so `schema_version` may be
    left out; when present it must be the current one.
    """

    schema_version_required: ClassVar[bool] = False

    schema_version: SchemaVersion = SCHEMA_VERSION
    jobs: list[JobSpec]

    @field_validator("jobs")
    @classmethod
    def _unique(cls, jobs: list[JobSpec]) -> list[JobSpec]:
        return _unique_job_uuids(jobs)


class Tags(WireModel):
    """Labels of a batch. `gdpr` and `retention_days` are known; any other key is kept."""

    model_config = ConfigDict(extra="allow")

    gdpr: bool = False
    retention_days: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class Submission(WireModel):
    """A batch handed in on `batchq.manifests` (key `submit`)."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    batch_id: UUID
    tenant: Identifier
    user_id: Identifier
    depositor_email: Email
    trace_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    tags: Tags = Field(default_factory=Tags)
    manifest_url: HttpUrl | None = None
    jobs: list[JobSpec] | None = None

    @field_validator("jobs")
    @classmethod
    def _unique(cls, jobs: list[JobSpec] | None) -> list[JobSpec] | None:
        return None if jobs is None else _unique_job_uuids(jobs)

    @model_validator(mode="after")
    def _one_source_of_jobs(self) -> Submission:
        if (self.manifest_url is None) == (self.jobs is None):
            given = "both" if self.jobs is not None else "neither"
            raise PydanticCustomError(
                "manifest_source",
                "exactly one of manifest_url and jobs must be given, not {given}",
                {"given": given},
            )
        return self


def content_fingerprint(submission: Submission) -> str:
    """A sha256 hex digest of what the submission asks for, `trace_id` aside.

    Equal fingerprints mean "the same batch submitted again" (a no-op answered
    `duplicate: true`); a different one under a known `batch_id` is
    DUPLICATE_BATCH. Fields left at their defaults are left out, so spelling a
    default explicitly, or a later version adding a defaulted field, does not
    change the fingerprint. For a `manifest_url` it covers the URL, not the
    document behind it.
    """
    content = submission.model_dump(mode="json", exclude={"trace_id"}, exclude_defaults=True)
    canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class Limits:
    """How big a submission may be. Services build one from their settings."""

    max_jobs: int = 200_000
    max_manifest_bytes: int = 64 * _MIB  # a document fetched from `manifest_url`
    # A message body (inline submission, command). RabbitMQ refuses bigger ones itself
    # when its `max_message_size` agrees (deploy/rabbitmq/rabbitmq.conf); large batches
    # come by `manifest_url`, which is streamed with its own cap.
    max_message_bytes: int = 16 * _MIB
    max_params_bytes: int = 64 * 1024
    max_depends_on: int = 1000


def check_message_size(size: int, limits: Limits) -> None:
    """Refuse a message body of `size` bytes before it costs a parse: INVALID_MESSAGE."""
    if size > limits.max_message_bytes:
        raise ContractError(
            ErrorCode.INVALID_MESSAGE,
            f"message is {size} bytes; the limit is BATCHQ_MAX_MESSAGE_BYTES={limits.max_message_bytes}"
            " (send large batches by manifest_url)",
        )


def check_manifest_size(size: int, limits: Limits) -> None:
    """Refuse a manifest document that grew past the limit while downloading: MANIFEST_UNAVAILABLE.

    Checked on every chunk, decompressed, so a gzip bomb stops at the limit.
    """
    if size > limits.max_manifest_bytes:
        raise ContractError(
            ErrorCode.MANIFEST_UNAVAILABLE,
            f"manifest is over {limits.max_manifest_bytes} bytes (BATCHQ_MAX_MANIFEST_BYTES)",
        )


def check_limits(jobs: Sequence[JobSpec], limits: Limits) -> None:
    """Refuse a batch whose jobs exceed `limits`, naming the limit and the job."""
    if len(jobs) > limits.max_jobs:
        raise ContractError(
            ErrorCode.INVALID_MESSAGE,
            f"jobs: {len(jobs)} jobs; the limit is max_jobs={limits.max_jobs}",
        )
    for index, job in enumerate(jobs):
        if len(job.depends_on) > limits.max_depends_on:
            raise ContractError(
                ErrorCode.INVALID_MESSAGE,
                f"jobs.{index}.depends_on: job {job.job_uuid} depends on {len(job.depends_on)} "
                f"jobs; the limit is max_depends_on={limits.max_depends_on}",
            )
        if job.params:
            size = len(orjson.dumps(job.params))
            if size > limits.max_params_bytes:
                raise ContractError(
                    ErrorCode.INVALID_MESSAGE,
                    f"jobs.{index}.params: job {job.job_uuid} has {size} bytes of params; "
                    f"the limit is max_params_bytes={limits.max_params_bytes}",
                )
