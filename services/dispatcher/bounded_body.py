"""Reading a fetched manifest's body within `max_manifest_bytes`, inflating it ourselves.

Why not httpx's own decoding: it inflates each raw chunk whole, and 64 KiB of
gzip can hold 64 MiB, so a small "gzip bomb" would be expanded in memory before
any size check saw it. Here the raw bytes are inflated with zlib's `max_length`,
never more than one byte past what the limit still allows, so a document costs
at most the limit however it is encoded. Only the encodings we can bound are
accepted (the request asks for just these: manifests.ACCEPT_ENCODING).
"""

from __future__ import annotations

import zlib

import httpx

from contracts.errors import ContractError, ErrorCode
from contracts.manifest import Limits, check_manifest_size

# Content-Encoding -> zlib wbits: gzip framing (16 + 15), zlib framing (15).
WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _inflater(encoding: str) -> zlib._Decompress | None:
    """None for an identity body; a decompressor for one we can bound; else refused."""
    if encoding in ("", "identity"):
        return None
    if encoding not in WBITS:
        raise ContractError(ErrorCode.MANIFEST_UNAVAILABLE, f"Content-Encoding {encoding!r} is not supported")
    return zlib.decompressobj(WBITS[encoding])


def _inflate_into(body: bytearray, inflater: zlib._Decompress, data: bytes, limits: Limits) -> None:
    """Append what `data` inflates to, at most one byte past the limit at a time."""
    while data:
        room = limits.max_manifest_bytes - len(body) + 1
        body += inflater.decompress(data, room)
        check_manifest_size(len(body), limits)
        data = inflater.unconsumed_tail


async def read_bounded(response: httpx.Response, limits: Limits) -> bytes:
    """The body of `response`, decoded; MANIFEST_UNAVAILABLE once it is over the limit."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    inflater = _inflater(encoding)
    declared = response.headers.get("Content-Length", "")
    if inflater is None and declared.isdigit():
        check_manifest_size(int(declared), limits)  # refused before a byte is read
    body = bytearray()
    try:
        async for raw in response.aiter_raw():
            if inflater is None:
                body += raw
                check_manifest_size(len(body), limits)
            else:
                _inflate_into(body, inflater, raw, limits)
        if inflater is not None and not inflater.eof:
            raise ContractError(ErrorCode.MANIFEST_UNAVAILABLE, f"{encoding} body ends before its end")
    except zlib.error:
        raise ContractError(ErrorCode.MANIFEST_UNAVAILABLE, f"body is not valid {encoding}") from None
    return bytes(body)
