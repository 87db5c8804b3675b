"""What the dispatcher fetches, and how much it takes in, as an attacker would probe it.

- SSRF: a `manifest_url` on loopback, link-local (cloud metadata) or private addresses is
  refused by default, also after a redirect from an allowed host; the refusal does not say
  what answered inside, and nothing is requested from a refused address.
- Size: a fetched manifest over BATCHQ_MAX_MANIFEST_BYTES (also a gzip bomb) is
  MANIFEST_UNAVAILABLE; an inline body over BATCHQ_MAX_MESSAGE_BYTES is INVALID_MESSAGE,
  refused in memory bounded by a small multiple of its size.
"""

from __future__ import annotations

import gzip
import time

import pytest

from tests.e2e.broker import MANIFESTS_REJECTED_QUEUE, publish_requests, request, wait_for_dead_letters
from tests.e2e.cli import job, submission
from tests.e2e.processes import Processes
from tests.threaded_servers import HttpServer


def refusal(amqp_url: str, doc: dict[str, object], timeout: float = 20.0) -> dict[str, str]:
    sent = request(doc)
    reply = publish_requests(amqp_url, [sent], timeout=timeout)[sent.correlation_id]
    assert reply["ok"] is False, reply
    return reply["error"]  # type: ignore[no-any-return]


@pytest.mark.batchq_env(BATCHQ_MANIFEST_ALLOWED_NETWORKS="public")
def test_by_default_internal_addresses_are_not_fetched(
    system: Processes, amqp_url: str, http_server: HttpServer
) -> None:
    secret = http_server.add("/secret.json", {"jobs": [job()]})
    for url in (secret, secret.replace("127.0.0.1", "localhost"), "http://169.254.169.254/latest/meta-data/"):
        error = refusal(amqp_url, submission(manifest_url=url))
        assert error["code"] == "MANIFEST_UNAVAILABLE"
        assert "outside BATCHQ_MANIFEST_ALLOWED_NETWORKS" in error["reason"], error
    assert http_server.requests == []  # nothing was asked of the refused addresses


@pytest.mark.batchq_env(BATCHQ_MANIFEST_ALLOWED_NETWORKS="127.0.0.1/32")
def test_a_redirect_to_a_refused_address_is_refused(system: Processes, amqp_url: str, http_server: HttpServer) -> None:
    inside = "http://127.0.0.2:9/secret.json"
    for target in (inside, "http://169.254.169.254/latest/meta-data/"):
        hop = http_server.add(f"/hop-{len(http_server.requests)}", b"", status=302, headers={"Location": target})
        error = refusal(amqp_url, submission(manifest_url=hop))
        assert error["code"] == "MANIFEST_UNAVAILABLE"
        assert "outside BATCHQ_MANIFEST_ALLOWED_NETWORKS" in error["reason"], error


@pytest.mark.batchq_env(BATCHQ_MANIFEST_ALLOWED_NETWORKS="127.0.0.1/32")
def test_an_allowed_address_and_its_allowed_redirects_are_fetched(
    system: Processes, amqp_url: str, http_server: HttpServer
) -> None:
    final = http_server.add("/manifest.json", {"jobs": [job(), job()]})
    http_server.add("/other.json", {"jobs": [job(), job()]})
    hop = http_server.add("/moved", b"", status=301, headers={"Location": "/other.json"})
    for url in (final, hop.replace("127.0.0.1", "localhost")):
        sent = request(submission(manifest_url=url))
        reply = publish_requests(amqp_url, [sent], timeout=20)[sent.correlation_id]
        assert reply["ok"] is True and reply["result"]["jobs"] == 2, reply


@pytest.mark.batchq_env(BATCHQ_MAX_MANIFEST_BYTES="100000")
def test_a_fetched_manifest_over_the_limit_is_unavailable_even_gzipped(
    system: Processes, amqp_url: str, http_server: HttpServer
) -> None:
    big = http_server.add("/big.json", b'{"jobs": [' + b" " * 200_000 + b"]}")
    bomb_body = gzip.compress(b'{"jobs": [' + b" " * 200_000_000 + b"]}")
    bomb = http_server.add("/bomb.json", bomb_body, headers={"Content-Encoding": "gzip"})
    assert len(bomb_body) < 1_000_000  # 200 MB once inflated
    for url in (big, bomb):
        error = refusal(amqp_url, submission(manifest_url=url))
        assert error["code"] == "MANIFEST_UNAVAILABLE", error
        assert "100000 bytes (BATCHQ_MAX_MANIFEST_BYTES)" in error["reason"]


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def test_an_inline_body_over_the_message_limit_is_refused_in_bounded_memory(system: Processes, amqp_url: str) -> None:
    dispatcher = system.pid("dispatcher")
    before = _peak_rss_kib(dispatcher)
    size = 20 * 1024 * 1024  # past the 16 MiB default
    doc = submission([job()], tags={"padding": "x" * size})
    error = refusal(amqp_url, doc, timeout=60)
    assert error["code"] == "INVALID_MESSAGE" and "BATCHQ_MAX_MESSAGE_BYTES=16777216" in error["reason"]
    [dead] = wait_for_dead_letters(amqp_url, MANIFESTS_REJECTED_QUEUE, 1, timeout=30)
    assert len(dead.body) > size  # dead-lettered whole: nothing lost
    assert dead.headers["x-death"][0]["reason"] == "rejected"  # by the broker: no second copy in the dispatcher
    time.sleep(0.5)
    grown_kib = _peak_rss_kib(dispatcher) - before
    assert grown_kib * 1024 < 4 * size, f"the dispatcher's peak RSS grew {grown_kib} KiB for a {size}-byte message"
    print(f"dispatcher peak RSS grew {grown_kib} KiB for a {size}-byte refused message")
