"""RabbitMQ users of a test's own, in its vhost: the principals the security tests act as.

`Principals.add(name, ...)` creates the user (unique per test), gives it the
permissions asked for in the test's vhost, and returns its AMQP URL; every user
is deleted afterwards. Users come in through a definitions import, which both the
management API and `rabbitmqctl` can do.
"""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import ModuleType
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from tests.servers import RabbitServer

PASSWORD = "s3cret-for-tests"


def _hashing() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "hash_password.py"
    spec = importlib.util.spec_from_file_location("hash_password", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Principals:
    def __init__(self, server: RabbitServer, amqp_url: str) -> None:
        self.server = server
        self.amqp_url = amqp_url
        self.vhost = unquote(urlsplit(amqp_url).path.lstrip("/"))
        self.created: list[str] = []

    def add(
        self,
        name: str,
        *,
        configure: str = ".*",
        write: str = ".*",
        read: str = ".*",
        tags: str = "",
        events_topic_read: str | None = None,
    ) -> tuple[str, str]:
        """A new user (its name made unique) with these permissions; (its name, its AMQP URL)."""
        user = f"{name}-{uuid.uuid4().hex[:6]}"
        hashing = _hashing()
        definitions = {
            "users": [
                {
                    "name": user,
                    "password_hash": hashing.hash_password(PASSWORD),
                    "hashing_algorithm": hashing.ALGORITHM,
                    "tags": tags,
                }
            ],
            "permissions": [
                {"user": user, "vhost": self.vhost, "configure": configure, "write": write, "read": read}
            ],
            "topic_permissions": [
                {"user": user, "vhost": self.vhost, "exchange": "batchq.events", "write": "^$", "read": pattern}
                for pattern in ([events_topic_read] if events_topic_read is not None else [])
            ],
        }
        self.server.admin.import_definitions(definitions)
        self.created.append(user)
        parts = urlsplit(self.amqp_url)
        netloc = f"{quote(user, safe='')}:{PASSWORD}@{parts.netloc.rpartition('@')[2]}"
        return user, urlunsplit(parts._replace(netloc=netloc))

    def remove_all(self) -> None:
        for user in self.created:
            self.server.admin.delete_user(user)
