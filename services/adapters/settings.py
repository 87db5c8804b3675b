"""Settings from the environment: the only module that reads `os.environ`.

Every field is read from `BATCHQ_<FIELD>` (`BATCHQ_DATABASE_URL`, …) by
pydantic-settings, which also checks its type: a `BATCHQ_WORKER_CONCURRENCY`
that is not a number is an error naming the setting, not a default. Settings
are frozen; a variant is `settings.model_copy(update={...})`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATCHQ_", frozen=True)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/batchq"
    database_schema: str = "public"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    smtp_url: str = "smtp://127.0.0.1:1025"
    mail_from: str = "batchq@localhost"
    pool: str = "default"
    queue_type: str = "quorum"
    worker_id: str = Field(default_factory=_default_worker_id)
    worker_concurrency: int = 256
    heartbeat_seconds: float = 2.0
    progress_interval_seconds: float = 2.0
    stuck_after_seconds: float = 60.0
    scan_seconds: float = 2.0
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 300.0
    http_timeout_seconds: float = 30.0
    max_manifest_bytes: int = 64 * 1024 * 1024
    max_message_bytes: int = 16 * 1024 * 1024
    manifest_allowed_networks: str = "public"  # CIDRs and `public`: see services/dispatcher/address_policy.py
    max_jobs: int = 200_000
    log_level: str = "info"
    dev_dir: Path = Path("batchq-dev")

    def child_environment(self) -> dict[str, str]:
        """The environment for a child process that must see these settings' servers."""
        return {
            **os.environ,
            "BATCHQ_DATABASE_URL": self.database_url,
            "BATCHQ_DATABASE_SCHEMA": self.database_schema,
            "BATCHQ_AMQP_URL": self.amqp_url,
            "BATCHQ_LOG_LEVEL": self.log_level,
            "BATCHQ_QUEUE_TYPE": self.queue_type,
        }

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of this process: `BATCHQ_*` variables over the defaults."""
        return cls()
