"""Real SMTP and HTTP servers that run in a thread of the test process, one per test.

The reporter sends its emails to `SmtpServer`, which keeps every message it receives; the
dispatcher and the `checksum` handler download manifests and payloads from `HttpServer`,
whose answers (status, body, delay) each test sets.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that keeps every message it receives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._envelopes: list[tuple[str, list[str]]] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.url = f"smtp://127.0.0.1:{self._controller.port}"
        # Called with each message once it is kept, before the sender hears "250": a test's
        # way to kill the sender between its send and whatever it does after.
        self.on_message: Callable[[EmailMessage], None] | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        data = data.replace(b"\r\n", b"\n")  # SMTP's line ends, so bodies compare as written
        message = email.message_from_bytes(data, policy=email.policy.default)
        with self._lock:
            self._messages.append(message)
            self._envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        if self.on_message is not None:
            self.on_message(message)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        """The messages received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._messages)

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        """(MAIL FROM, RCPT TO) of each message received so far."""
        with self._lock:
            return list(self._envelopes)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The messages once at least `count` have arrived; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while len(received := self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        if len(received) >= count:
            return received
        subjects = [str(message["Subject"]) for message in received]
        raise AssertionError(f"expected {count} email(s) within {timeout} s, received {len(received)}: {subjects}")

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@dataclass(frozen=True)
class Route:
    status: int
    body: bytes
    delay: float
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


class HttpServer:
    """A threading HTTP server answering GET and HEAD from routes the test adds; 404 otherwise."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.port = int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(
        self,
        path: str,
        body: bytes | str | dict[str, Any] | list[Any],
        status: int = 200,
        delay: float = 0.0,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve `body` at `path` (a dict or list as JSON) after `delay` seconds, with `headers`; its URL."""
        if isinstance(body, dict | list):
            body, content_type = json.dumps(body).encode(), content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        guessed = "application/json" if path.endswith(".json") else "application/octet-stream"
        with self._lock:
            self._routes[path] = Route(status, body, delay, content_type or guessed, tuple((headers or {}).items()))
        return self.url(path)

    @property
    def requests(self) -> list[str]:
        """The paths requested so far, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def route(self, path: str) -> Route | None:
        with self._lock:
            self._requests.append(path)
            return self._routes.get(path) or self._routes.get(path.partition("?")[0])

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(server: HttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def _answer(self, with_body: bool) -> None:
            route = server.route(self.path) or Route(404, b"not found\n", 0.0, "text/plain")
            time.sleep(route.delay)
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            for name, value in route.headers:
                self.send_header(name, value)
            self.end_headers()
            if with_body:
                self.wfile.write(route.body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
            pass

    return Handler
