"""Who is asking: a bearer token (or the dashboard's cookie) turned into a `Principal`.

A FastAPI dependency, so every route that needs a principal declares it, and
the roles and tenant filters of issue "trust" plug in here (a dependency that
takes this one and checks a role) without touching the routes' bodies.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.context import ApiError, api_of
from services.api.tokens import Principal

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
    return principal


Authenticated = Annotated[Principal, Depends(authenticate)]
