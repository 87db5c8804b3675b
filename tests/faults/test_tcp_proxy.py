"""The fault tests' TCP proxy, against a tiny echo server: pass, blackhole, reset, latency."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.faults.tcp_proxy import TcpProxy


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with TcpProxy("127.0.0.1", server.server_address[1]) as running:
        yield running
    server.shutdown()
    server.server_close()


def connect(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def echo(conn: socket.socket, data: bytes = b"ping") -> bytes:
    conn.sendall(data)
    return conn.recv(4096)


def test_passing_forwards_both_ways(proxy: TcpProxy) -> None:
    with connect(proxy) as conn:
        assert echo(conn) == b"ping"
        assert proxy.live() == 1


def test_a_blackhole_holds_the_bytes_and_delivers_them_when_it_ends(proxy: TcpProxy) -> None:
    with connect(proxy) as conn:
        assert echo(conn) == b"ping"
        proxy.blackhole(1.0)
        started = time.monotonic()
        conn.sendall(b"held")
        conn.settimeout(0.5)
        with pytest.raises(TimeoutError):
            conn.recv(4096)  # nothing comes back during the partition
        conn.settimeout(5)
        assert conn.recv(4096) == b"held"
        assert 0.9 < time.monotonic() - started < 3


def test_a_connection_made_in_a_blackhole_is_carried_only_after_it(proxy: TcpProxy) -> None:
    proxy.blackhole(0.8)
    started = time.monotonic()
    with connect(proxy) as conn:  # accepted at once
        assert echo(conn) == b"ping"
        assert time.monotonic() - started > 0.7


def test_reset_aborts_every_live_connection_and_new_ones_work(proxy: TcpProxy) -> None:
    first, second = connect(proxy), connect(proxy)
    assert echo(first) == echo(second) == b"ping"
    assert proxy.reset() == 2
    for conn in (first, second):
        with pytest.raises((ConnectionError, OSError)):
            conn.sendall(b"x")
            if not conn.recv(4096):
                raise ConnectionResetError("closed")
        conn.close()
    with connect(proxy) as conn:
        assert echo(conn) == b"ping"


def test_latency_delays_each_chunk_both_ways(proxy: TcpProxy) -> None:
    with connect(proxy) as conn:
        proxy.latency(200)
        started = time.monotonic()
        assert echo(conn) == b"ping"
        assert 0.35 < time.monotonic() - started < 1.5
        proxy.passing()
        started = time.monotonic()
        assert echo(conn) == b"ping"
        assert time.monotonic() - started < 0.2
