"""Server addresses as they may be shown: in error lines, logs and health checks.

One `redact` for every URL batchq prints (PostgreSQL, RabbitMQ, SMTP, HTTP), so
no message anywhere can carry a password.
"""

from __future__ import annotations

import re

PASSWORD_PARAMETER = re.compile(r"(password\s*=\s*)[^&\s]+", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL without its password (in the user part, or as a `password=` parameter)."""
    scheme, separator, rest = url.partition("://")
    if separator:
        credentials, at, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        url = f"{scheme}://{user}@{host}" if at else url
    return PASSWORD_PARAMETER.sub(r"\1***", url)
