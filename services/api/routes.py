"""`/api/v1`: batches, jobs and events as JSON, and the admin commands, for a bearer token.

Reads of one batch or job rebuild it from the event store exactly as `batchq
status` does (services/cli/views.py), so the API and the CLI cannot disagree;
lists come from the read model. Admin actions travel over `batchq.commands` as
the CLI's do and answer with the dispatcher's reply and its error code.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import ValidationError

from contracts.commands import (
    CancelJob,
    DeleteBatch,
    EraseDepositor,
    PauseQueue,
    ResumeQueue,
    RetryJob,
    UpdateReporting,
)
from services.adapters import ask, history
from services.adapters.envelopes import dumps, envelope_of_stored
from services.adapters.store import NotFoundError
from services.api.auth import Authenticated, readable
from services.api.context import ApiError, api_of
from services.api.documents import job_document
from services.api.queries import BatchFilter
from services.api.tokens import Principal

router = APIRouter(prefix="/api/v1", tags=["batchq"])
REPLY_STATUS = {"NOT_FOUND": 404, "FORBIDDEN": 403, "ILLEGAL_TRANSITION": 409, "RETRY_LIMIT": 409}
Reason = Annotated[str, Body(embed=True, max_length=2000)]


def json_response(document: Any, status: int = 200) -> Response:
    return Response(dumps(document), status_code=status, media_type="application/json")


def moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "INVALID_MESSAGE", f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ApiError(400, "INVALID_MESSAGE", "give a time zone, e.g. 2026-11-22T10:00:00Z")
    return parsed


async def store_call(function: Any, *args: Any) -> Any:
    try:
        return await asyncio.to_thread(function, *args)
    except NotFoundError as error:
        raise ApiError(404, "NOT_FOUND", error.reason) from None


@router.get("/batches", summary="batches, newest first, from the read model")
async def list_batches(
    request: Request,
    principal: Authenticated,
    tenant: str | None = None,
    status: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    where = BatchFilter(tenant, principal.readable_tenants(), status, moment(since), moment(until), limit, offset)
    found = await api_of(request).read_model.batches(where)
    next_offset = offset + limit if len(found) == limit else None
    return json_response({"batches": found, "next_offset": next_offset})


async def batch_status(request: Request, principal: Principal, batch_id: UUID, at: datetime | None) -> dict[str, Any]:
    batch, jobs = await store_call(history.load_batch, api_of(request).store, batch_id, at)
    readable(principal, "batch", batch_id, batch.tenant)
    return history.status_document(batch, jobs)


@router.get("/batches/{batch_id}", summary="one batch as `batchq status --json` prints it (`at`: as it stood then)")
async def get_batch(request: Request, principal: Authenticated, batch_id: UUID, at: str | None = None) -> Response:
    return json_response(await batch_status(request, principal, batch_id, moment(at)))


async def job_view(request: Request, principal: Principal, job_uuid: UUID) -> dict[str, Any]:
    store = api_of(request).store
    job = await store_call(store.get, job_uuid, "job")
    readable(principal, "job", job_uuid, job.tenant)
    envelopes = await store_call(events_of, store, None, job_uuid, 0)
    return job_document(history.job_entry(job_uuid, job), envelopes)


@router.get("/jobs/{job_uuid}", summary="one job with its attempts and errors")
async def get_job(request: Request, principal: Authenticated, job_uuid: UUID) -> Response:
    return json_response(await job_view(request, principal, job_uuid))


def events_of(store: Any, batch_id: UUID | None, job_uuid: UUID | None, since: int) -> list[dict[str, Any]]:
    return history.event_envelopes(store, batch_id=batch_id, job_uuid=job_uuid, since=since)


@router.get("/batches/{batch_id}/events", summary="the events of a batch and its jobs, oldest first")
async def batch_events(request: Request, principal: Authenticated, batch_id: UUID, since: int = 0) -> Response:
    batch = await store_call(api_of(request).store.get, batch_id, "batch")
    readable(principal, "batch", batch_id, batch.tenant)
    found = await store_call(events_of, api_of(request).store, batch_id, None, since)
    return json_response({"events": found})


@router.get("/jobs/{job_uuid}/events", summary="the events of a job, oldest first")
async def job_events(request: Request, principal: Authenticated, job_uuid: UUID, since: int = 0) -> Response:
    job = await store_call(api_of(request).store.get, job_uuid, "job")
    readable(principal, "job", job_uuid, job.tenant)
    found = await store_call(events_of, api_of(request).store, None, job_uuid, since)
    return json_response({"events": found})


@router.get("/events", summary="every event after a position (an auditor's replay), paged by position")
async def events_since(
    request: Request,
    principal: Authenticated,
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    stored = await asyncio.to_thread(api_of(request).store.read_stored, since, limit)
    envelopes = [envelope_of_stored(n, api_of(request).store.sealer) for n in stored]
    tenants = principal.readable_tenants()
    shown = [e for e in envelopes if tenants is None or e["tenant"] in tenants]
    # Paged by position read, not shown: another tenant's events leave gaps, never a stall.
    return json_response({"events": shown, "next_since": envelopes[-1]["position"] if envelopes else since})


async def command(request: Request, principal: Principal, model: Any) -> Response:
    """Send one command as the CLI does, as the token's principal (RabbitMQ's `impersonator` tag lets
    the API's user do so); the dispatcher decides, and its reply comes back with the HTTP status of its code."""
    document = model.model_dump(mode="json", exclude_none=True)
    try:
        _, reply = await ask.send_command(api_of(request).bus, document, user_id=principal.name)
    except TimeoutError:
        raise ApiError(
            504, "UNAVAILABLE", "no answer from the dispatcher; is `batchq run dispatcher` running?"
        ) from None
    status = 200 if reply.get("ok") else REPLY_STATUS.get(reply["error"]["code"], 400)
    return json_response(reply, status)


@router.post("/jobs/{job_uuid}/retry", summary="retry_job")
async def retry_job(
    request: Request, principal: Authenticated, job_uuid: UUID, override: Annotated[bool, Body(embed=True)] = False,
    reason: Reason = "",
) -> Response:  # fmt: skip
    return await command(request, principal, RetryJob(job_uuid=job_uuid, override=override, reason=reason))


@router.post("/jobs/{job_uuid}/cancel", summary="cancel_job")
async def cancel_job(request: Request, principal: Authenticated, job_uuid: UUID) -> Response:
    return await command(request, principal, CancelJob(job_uuid=job_uuid))


@router.post("/batches/{batch_id}/delete", summary="delete_batch")
async def delete_batch(request: Request, principal: Authenticated, batch_id: UUID) -> Response:
    return await command(request, principal, DeleteBatch(batch_id=batch_id))


@router.post("/batches/{batch_id}/update-reporting", summary="update_reporting")
async def update_reporting(request: Request, principal: Authenticated, batch_id: UUID) -> Response:
    return await command(request, principal, UpdateReporting(batch_id=batch_id))


@router.post("/queue/pause", summary="pause_queue")
async def pause(request: Request, principal: Authenticated, reason: Reason = "") -> Response:
    return await command(request, principal, PauseQueue(reason=reason))


@router.post("/depositors/{tenant}/{user_id}/erase", summary="erase_depositor (operators only)")
async def erase_depositor(
    request: Request, principal: Authenticated, tenant: str, user_id: str, reason: Reason = ""
) -> Response:
    """Crypto-shred a depositor's personal data (CONTRACT v1.1, retention and erasure); `tenant` `*` for quotas."""
    try:
        erase = EraseDepositor(tenant=tenant, user_id=user_id, reason=reason)
    except ValidationError as error:
        raise ApiError(400, "INVALID_MESSAGE", str(error.errors()[0]["msg"])) from None
    answer = await command(request, principal, erase)
    if answer.status_code == 200:  # this process reads "[erased]" at once, not once its cache expires
        api_of(request).store.keys.forget(api_of(request).store.keys.subject_ref(tenant, user_id))
    return answer


@router.post("/queue/resume", summary="resume_queue")
async def resume(request: Request, principal: Authenticated, reason: Reason = "") -> Response:
    return await command(request, principal, ResumeQueue(reason=reason))
