"""The ASGI application: routes, the error shape, and the OpenAPI document at `/api/v1/openapi.json`.

Every refusal is `{"error": {"code", "reason"}}`: ours (`ApiError`), FastAPI's
own (a bad path or body: 404 / 400) and a database that went away (503), so a
client parses one shape whatever went wrong.
"""

from __future__ import annotations

import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from services.adapters.envelopes import dumps
from services.api import dashboard, observe, routes
from services.api.context import Api, ApiError

HTTP_CODES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "INVALID_MESSAGE"}


def error(status: int, code: str, reason: str) -> Response:
    return Response(dumps({"error": {"code": code, "reason": reason}}), status, media_type="application/json")


def create_app(api: Api) -> FastAPI:
    app = FastAPI(
        title="batchq",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.api = api

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return error(exc.status, exc.code, exc.reason)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return error(exc.status_code, HTTP_CODES.get(exc.status_code, "INVALID_MESSAGE"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error(400, "INVALID_MESSAGE", problems)

    @app.exception_handler(psycopg.OperationalError)
    async def database_away(request: Request, exc: psycopg.OperationalError) -> Response:
        return error(503, "UNAVAILABLE", "the database does not answer: " + " ".join(str(exc).split()))

    app.include_router(observe.router)
    app.include_router(routes.router)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=dashboard.HERE / "static"), name="static")
    return app
