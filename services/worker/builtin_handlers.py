"""The built-in handlers of the contract: noop, sleep, fail, flaky, checksum."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx

from services.worker.handlers import HandlerError, JobContext


async def noop(ctx: JobContext) -> None:
    return None


async def sleep(ctx: JobContext) -> dict[str, Any]:
    seconds = float(ctx.params.get("seconds", 1))
    steps = max(1, int(seconds))
    for step in range(steps):
        await asyncio.sleep(seconds / steps)
        ctx.progress((step + 1) / steps)
    return {"slept": seconds}


async def fail(ctx: JobContext) -> None:
    raise HandlerError(str(ctx.params.get("code", "FAILED")), str(ctx.params.get("reason", "failed as asked")))


async def flaky(ctx: JobContext) -> dict[str, Any]:
    fail_times = int(ctx.params.get("fail_times", 1))
    if ctx.attempt <= fail_times:
        raise HandlerError("FLAKY", f"attempt {ctx.attempt} of the first {fail_times} fails")
    return {"succeeded_on_attempt": ctx.attempt}


async def checksum(ctx: JobContext) -> dict[str, Any]:
    if not ctx.payload_url:
        raise HandlerError("NO_PAYLOAD", "checksum needs a payload_url", stage="download")
    ctx.stage = "download"
    digest = hashlib.sha256()
    size = 0
    try:
        async with (
            httpx.AsyncClient(timeout=60, follow_redirects=True) as client,
            client.stream("GET", ctx.payload_url) as response,
        ):
            if response.status_code != 200:
                raise HandlerError("PAYLOAD_UNAVAILABLE", f"{ctx.payload_url} answered HTTP {response.status_code}")
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
                size += len(chunk)
    except httpx.HTTPError as error:
        raise HandlerError("PAYLOAD_UNAVAILABLE", f"{ctx.payload_url}: {type(error).__name__} {error}") from None
    ctx.stage = "execution"
    return {"sha256": digest.hexdigest(), "bytes": size}
