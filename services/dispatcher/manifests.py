"""Fetching a manifest document from `manifest_url`, within size and time limits."""

from __future__ import annotations

import httpx

from contracts.errors import ContractError, ErrorCode
from contracts.manifest import JobSpec, Limits, ManifestDocument, check_manifest_size
from contracts.parsing import decode


async def fetch_manifest(url: str, limits: Limits, timeout: float) -> list[JobSpec]:
    """The jobs of the manifest at `url`; MANIFEST_UNAVAILABLE when it cannot be had."""
    body = bytearray()
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise ContractError(
                    ErrorCode.MANIFEST_UNAVAILABLE, f"manifest_url {url} answered HTTP {response.status_code}"
                )
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                check_manifest_size(len(body), limits)
    except httpx.HTTPError as error:
        raise ContractError(
            ErrorCode.MANIFEST_UNAVAILABLE, f"manifest_url {url}: {type(error).__name__} {error}".strip()
        ) from None
    try:
        return decode(ManifestDocument, bytes(body)).jobs
    except ContractError as error:
        raise ContractError(error.code, f"manifest at {url}: {error.reason}") from None
