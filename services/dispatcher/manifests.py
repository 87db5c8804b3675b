"""Fetching a manifest document from `manifest_url`: allowed addresses only, within size and time limits.

Proxies from the environment are ignored (a proxy would connect where it likes).
Redirects are followed here, not by httpx, so that every hop is checked; each
host is resolved once, every address it resolves to must be allowed
(`address_policy`), and the request goes to the address that was checked (the
Host header and TLS name stay the URL's), so DNS rebinding cannot reach inside.
A refusal says which rule refused, never what answered inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin

import httpx

from contracts.errors import ContractError, ErrorCode
from contracts.manifest import JobSpec, Limits, ManifestDocument
from contracts.parsing import decode
from services.dispatcher.address_policy import AllowedNetworks, IPAddress
from services.dispatcher.bounded_body import read_bounded

MAX_REDIRECTS = 5
ACCEPT_ENCODING = "gzip, deflate, identity"  # only what bounded_body can inflate within the limit
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _unavailable(reason: str) -> ContractError:
    return ContractError(ErrorCode.MANIFEST_UNAVAILABLE, reason)


def shown_url(url: str) -> str:
    """A manifest_url as a refusal names it: its origin only. The path and query are the
    depositor's personal data (QUEUE-022), and a refusal is logged as well as answered."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(not a URL)"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}/…" if parsed.host else "(no host)"


async def fetch_manifest(url: str, limits: Limits, timeout: float, allowed: AllowedNetworks) -> list[JobSpec]:
    """The jobs of the manifest at `url`; MANIFEST_UNAVAILABLE when it cannot (or may not) be had."""
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
        ):
            body = await _download(client, url, limits, allowed)
    except (httpx.HTTPError, TimeoutError) as error:
        said = str(error).replace(url, shown_url(url))
        raise _unavailable(f"manifest_url {shown_url(url)}: {type(error).__name__} {said}".strip()) from None
    try:
        return decode(ManifestDocument, body).jobs
    except ContractError as error:
        raise ContractError(error.code, f"manifest at {shown_url(url)}: {error.reason}") from None


async def _download(client: httpx.AsyncClient, url: str, limits: Limits, allowed: AllowedNetworks) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        request = await _pinned_request(client, url, allowed)
        response = await client.send(request, stream=True)
        try:
            if response.status_code in REDIRECTS and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code != 200:
                raise _unavailable(f"manifest_url {shown_url(url)} answered HTTP {response.status_code}")
            return await read_bounded(response, limits)  # a gzip bomb never inflates past the limit
        finally:
            await response.aclose()
    raise _unavailable(f"manifest_url {shown_url(url)}: more than {MAX_REDIRECTS} redirects")


async def _pinned_request(client: httpx.AsyncClient, url: str, allowed: AllowedNetworks) -> httpx.Request:
    """A GET for `url` sent to an address of its host that the policy allows, checked first."""
    target = httpx.URL(url)
    if target.scheme not in ("http", "https") or not target.host:
        raise _unavailable(f"manifest_url {shown_url(url)}: only http and https URLs with a host can be fetched")
    address = await _allowed_address(target, allowed)
    host = f"[{address}]" if address.version == 6 else str(address)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    headers = {"Host": target.netloc.decode("ascii"), "Accept-Encoding": ACCEPT_ENCODING}
    return client.build_request("GET", target.copy_with(host=host), headers=headers, extensions=extensions)


async def _allowed_address(target: httpx.URL, allowed: AllowedNetworks) -> IPAddress:
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(target.host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise _unavailable(f"manifest_url host {target.host} does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in found]
    if not addresses or not all(allowed.allows(a) for a in addresses):
        raise _unavailable(
            f"manifest_url host {target.host} resolves to an address outside BATCHQ_MANIFEST_ALLOWED_NETWORKS"
        )
    return addresses[0]
