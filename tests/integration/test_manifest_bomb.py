"""A gzip bomb behind `manifest_url` is refused without being inflated in memory.

httpx's own decoding inflates each raw chunk whole (64 KiB of gzip can hold 64 MiB),
so the limit is applied while inflating (`services/dispatcher/bounded_body.py`).
"""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc

import pytest

from contracts.errors import ContractError, ErrorCode
from contracts.manifest import Limits
from services.dispatcher.address_policy import AllowedNetworks
from services.dispatcher.manifests import fetch_manifest
from tests.threaded_servers import HttpServer

pytestmark = pytest.mark.integration
MIB = 1024 * 1024


def test_a_gzip_bomb_is_unavailable_and_never_inflated_in_memory(http_server: HttpServer) -> None:
    bomb = gzip.compress(b'{"jobs": [' + b" " * (256 * MIB) + b"]}", compresslevel=9)
    url = http_server.add("/bomb.json", bomb, headers={"Content-Encoding": "gzip"})
    limits = Limits(max_manifest_bytes=1 * MIB)
    tracemalloc.start()
    try:
        with pytest.raises(ContractError) as refused:
            asyncio.run(fetch_manifest(url, limits, 30, AllowedNetworks.parse("127.0.0.0/8")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code is ErrorCode.MANIFEST_UNAVAILABLE
    assert peak < 8 * MIB, f"{peak / MIB:.1f} MiB allocated for a 1 MiB limit"


def test_a_gzipped_manifest_within_the_limit_is_read(http_server: HttpServer) -> None:
    body = gzip.compress(b'{"jobs": [{"job_uuid": "00000000-0000-0000-0000-000000000001"}]}')
    url = http_server.add("/small.json", body, headers={"Content-Encoding": "gzip"})
    jobs = asyncio.run(fetch_manifest(url, Limits(), 30, AllowedNetworks.parse("127.0.0.0/8")))
    assert [str(j.job_uuid) for j in jobs] == ["00000000-0000-0000-0000-000000000001"]
