"""The dashboard: server-rendered pages (Jinja2), a little plain JavaScript, live updates by SSE.

Pages read what the API reads (the read model for lists, the event store for one
batch, `?at=` included), and the actions post to `/api/v1` with the login cookie,
so the dashboard has no rule of its own to drift from the API's. The cookie is
HttpOnly and SameSite=Strict: scripts cannot read the token, and no other site
can make the browser send it (which is also the CSRF defence of the actions).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from fastapi.templating import Jinja2Templates

from domain.access import Action
from services.adapters.envelopes import dumps, occurred_at
from services.api.auth import COOKIE, authenticate
from services.api.context import ApiError, api_of
from services.api.queries import BatchFilter
from services.api.routes import batch_status, events_of, job_view, moment, store_call
from services.api.tokens import Principal

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)
LIVE_SECONDS = 1.0
MAX_ROWS = 1000  # a batch page lists this many jobs; the live updates and the API cover all


async def _principal(request: Request) -> Principal | None:
    try:
        return await authenticate(request, None)
    except ApiError:
        return None


def _page(request: Request, name: str, principal: Principal, **context: Any) -> Response:
    api = api_of(request)
    alerts = sorted(api.firing.values(), key=lambda a: (a["alert"], a["subject"]))
    context = {"principal": principal, "actions": Action, "alerts": alerts, "canary": api.canary, **context}
    return templates.TemplateResponse(request, name, context)


@router.get("/login")
async def login_form(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login")
async def login(request: Request) -> Response:
    token = parse_qs((await request.body()).decode()).get("token", [""])[0].strip()
    api = api_of(request)
    principal = await asyncio.to_thread(api.tokens.principal, token, api.now()) if token else None
    if principal is None:
        context = {"error": "That token is unknown, expired or revoked."}
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
async def batches_page(request: Request, tenant: str = "", status: str = "", offset: int = 0) -> Response:
    principal = await _principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    where = BatchFilter(
        tenant or None, principal.readable_tenants(), status or None, limit=50, offset=max(0, offset)
    )
    found = await api_of(request).read_model.batches(where)
    return _page(request, "batches.html", principal, batches=found, tenant=tenant, status=status, offset=offset)


@router.get("/batches/{batch_id}")
async def batch_page(request: Request, batch_id: UUID, at: str | None = None) -> Response:
    principal = await _principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    when = moment(at)
    doc = await batch_status(request, principal, batch_id, when)
    events = await store_call(events_of, api_of(request).store, batch_id, None, 0)
    shown = [e for e in events if when is None or e["occurred_at"] <= occurred_at(when)]
    # One slider step per distinct moment: the events of one append share their time.
    moments = sorted({e["occurred_at"] for e in events})
    step = sum(1 for m in moments if m <= occurred_at(when)) - 1 if when else len(moments) - 1
    return _page(
        request,
        "batch.html",
        principal,
        doc=doc,
        events=events,
        shown=shown,
        at=at,
        moments=moments,
        step=step,
        max_rows=MAX_ROWS,
    )


@router.get("/jobs/{job_uuid}")
async def job_page(request: Request, job_uuid: UUID) -> Response:
    principal = await _principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    job = await job_view(request, principal, job_uuid)
    events = await store_call(events_of, api_of(request).store, None, job_uuid, 0)
    return _page(request, "job.html", principal, job=job, events=events)


@router.get("/batches/{batch_id}/live")
async def batch_live(request: Request, batch_id: UUID, after: int = 0) -> Response:
    """Server-sent events from the read model, after position `after` (where the page was rendered):
    `status` with the batch's state, its settled count and only the jobs that changed, and `timeline`
    with its new events (for the timeline and the time slider). A 100,000-job batch costs a few
    indexed reads a second and sends only what moved."""
    principal = await _principal(request)
    if principal is None:
        raise ApiError(401, "UNAUTHORIZED", "log in first")
    await batch_status(request, principal, batch_id, None)  # 404 for a batch it may not read
    api = api_of(request)

    async def stream() -> Any:
        jobs_after, events_after, shown = after, after, None
        while not api.stopping.is_set() and not await request.is_disconnected():
            change = await api.read_model.batch_changes(batch_id, jobs_after)
            if change is not None and (change["jobs"] or (change["status"], change["settled"]) != shown):
                jobs_after, shown = change.pop("position"), (change["status"], change["settled"])
                yield b"event: status\ndata: " + dumps(change) + b"\n\n"
            if rows := await api.read_model.batch_events_since(batch_id, events_after):
                events_after = rows[-1]["position"]
                yield b"event: timeline\ndata: " + dumps([_timeline_entry(r) for r in rows]) + b"\n\n"
            await asyncio.sleep(LIVE_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def _timeline_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "position": row["position"],
        "type": row["type"],
        "aggregate_type": row["aggregate_type"],
        "aggregate_id": str(row["aggregate_id"]),
        "occurred_at": occurred_at(row["occurred_at"]),
        "code": row["error_code"] if row["type"] == "JobFailed" else None,
    }
