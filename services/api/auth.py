"""Who is asking: a bearer token (or the dashboard's cookie) turned into a `Principal`.

A FastAPI dependency, so every route that needs a principal declares it, and
the roles and tenant filters of issue "trust" plug in here (a dependency that
takes this one and checks a role) without touching the routes' bodies.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.access import ACCESS_ID, AccessGrants, Action, Grant
from services.adapters.logging import get_logger
from services.adapters.store import EventStore
from services.api.context import ApiError, api_of
from services.api.tokens import Principal

log = get_logger("batchq.api")

COOKIE = "batchq_token"
bearer = HTTPBearer(auto_error=False, description="a token from `batchq token create PRINCIPAL`")


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    token = credentials.credentials if credentials else request.cookies.get(COOKIE)
    if not token:
        raise ApiError(401, "UNAUTHORIZED", "a bearer token is required (batchq token create PRINCIPAL)")
    api = api_of(request)
    principal = await asyncio.to_thread(api.tokens.principal, token, api.now())
    if principal is None:
        raise ApiError(401, "UNAUTHORIZED", "the token is unknown, expired or revoked")
    log.info("token_used", principal=principal.name, token_id=principal.token_id, path=request.url.path)
    return replace(principal, grants=await asyncio.to_thread(grants_in, api.store))


def grants_in(store: EventStore) -> frozenset[Grant]:
    """Every grant as the store holds it now: a revocation counts from the next request."""
    access: AccessGrants | None = store.get_many([ACCESS_ID]).get(ACCESS_ID)
    return access.grants if access is not None else frozenset()


def readable(principal: Principal, kind: str, aggregate_id: object, tenant: str) -> None:
    """Another tenant's batch or job looks exactly like one that does not exist: 404, the same words."""
    if not principal.may(Action.READ, tenant):
        raise ApiError(404, "NOT_FOUND", f"{kind} {aggregate_id} not found")


Authenticated = Annotated[Principal, Depends(authenticate)]
