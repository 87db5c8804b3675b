"""`batchq status` and `batchq events` through the HTTP API, when BATCHQ_API_URL is set.

The same output as reading the database: the API returns the very documents and
envelopes (services/adapters/history.py builds both), so only the transport differs, and
a principal who is not an operator never needs the database's password.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

import httpx
import orjson

from services.adapters.envelopes import dumps
from services.adapters.settings import Settings
from services.cli import views

EXIT_OK, EXIT_REFUSED = 0, 1
PAGE = 10_000


class ApiRefusedError(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"refused: {code}: {reason}")


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    try:
        response = client.get(path, params={k: v for k, v in params.items() if v is not None})
    except httpx.HTTPError as error:
        raise ApiRefusedError("UNAVAILABLE", f"cannot reach {client.base_url} (BATCHQ_API_URL): {error}") from None
    if response.status_code != 200:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "UNAVAILABLE", "reason": f"HTTP {response.status_code} from {client.base_url}"}
        raise ApiRefusedError(error["code"], error["reason"])
    return response.json()


def main(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is not the command's output
    headers = {"Authorization": f"Bearer {settings.api_token}"}
    with httpx.Client(base_url=settings.api_url.rstrip("/"), headers=headers, timeout=60) as client:
        try:
            if args.command == "status":
                at = args.at.isoformat() if args.at else None
                doc = _get(client, f"/api/v1/batches/{args.batch_id}", at=at)
                print(orjson.dumps(doc).decode() if args.json else views.status_table(doc))
                return EXIT_OK
            return _events(client, args)
        except ApiRefusedError as error:
            print(error, file=sys.stderr)
            return EXIT_REFUSED


def _page(client: httpx.Client, args: argparse.Namespace, since: int) -> list[dict[str, Any]]:
    if args.batch is not None:
        return list(_get(client, f"/api/v1/batches/{args.batch}/events", since=since)["events"])
    if args.job is not None:
        return list(_get(client, f"/api/v1/jobs/{args.job}/events", since=since)["events"])
    return list(_get(client, "/api/v1/events", since=since, limit=PAGE)["events"])


def _events(client: httpx.Client, args: argparse.Namespace) -> int:
    position = args.since
    while True:
        while envelopes := _page(client, args, position):
            for env in envelopes:
                print(dumps(env).decode() if args.json else views.event_line(env), flush=True)
            position = envelopes[-1]["position"]
            if args.batch is not None or args.job is not None:
                break  # one answer holds all of a batch's or a job's events after `since`
        if not args.follow:
            return EXIT_OK
        time.sleep(0.5)
