"""Settings from the environment: the only module that reads `os.environ`.

Every field is read from `BATCHQ_<FIELD>` (`BATCHQ_DATABASE_URL`, …) by
pydantic-settings, which also checks its type: a `BATCHQ_WORKER_CONCURRENCY`
that is not a number is an error naming the setting, not a default. Settings
are frozen; a variant is `settings.model_copy(update={...})`. The alert
thresholds are `BATCHQ_ALERT_<FIELD>`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def principal_of(url: str) -> str:
    """The RabbitMQ user an AMQP URL logs in as (the broker's default, guest, when it names none)."""
    return unquote(urlsplit(url).username or "guest")


class AlertSettings(BaseSettings):
    """Alert thresholds (an alert fires when its value is above its threshold) and how often they are checked."""

    model_config = SettingsConfigDict(env_prefix="BATCHQ_ALERT_", frozen=True)

    interval_seconds: float = 15.0
    queue_depth: float = 1000  # PENDING jobs per pool
    oldest_pending_seconds: float = 600
    stuck_jobs: float = 0  # jobs PROCESSING for longer than stuck_seconds
    stuck_seconds: float = 900
    failure_rate: float = 0.5  # failed / (failed + completed) over the window
    failure_window_seconds: float = 300
    failure_min_outcomes: int = 10  # fewer outcomes in the window: the rate is not judged
    abandoned_jobs: float = 0
    refused_per_minute: float = 10
    lag_events: float = 1000  # relay and projection lag, in events

    @classmethod
    def from_env(cls) -> AlertSettings:
        return cls()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BATCHQ_", frozen=True)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/batchq"
    database_schema: str = "public"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    rabbitmq_management_url: str = ""  # empty: port 15672 of BATCHQ_AMQP_URL's host (checkpoints)
    smtp_url: str = "smtp://127.0.0.1:1025"
    mail_from: str = "batchq@localhost"
    pool: str = "default"
    queue_type: str = "quorum"
    worker_id: str = Field(default_factory=_default_worker_id)
    worker_concurrency: int = 512
    heartbeat_seconds: float = 2.0
    progress_interval_seconds: float = 2.0
    stuck_after_seconds: float = 60.0
    scan_seconds: float = 2.0
    # A PENDING job dispatched this long ago and still not started is sent again (its message was lost).
    redispatch_seconds: float = 30.0
    retention_sweep_seconds: float = 60.0  # how often the dispatcher erases batches past their retention
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 300.0
    http_timeout_seconds: float = 30.0
    max_manifest_bytes: int = 64 * 1024 * 1024
    max_message_bytes: int = 16 * 1024 * 1024
    manifest_allowed_networks: str = "public"  # CIDRs and `public`: see services/dispatcher/address_policy.py
    max_jobs: int = 200_000
    log_level: str = "info"
    # The RabbitMQ user the relay publishes as: event messages from anyone else are not acted on.
    # Empty: the user of BATCHQ_RELAY_AMQP_URL, else of BATCHQ_AMQP_URL (one user for every service).
    relay_principal: str = ""
    # Where the relay (the dispatcher's child process) connects, as its own user; empty: BATCHQ_AMQP_URL.
    relay_amqp_url: str = ""
    dev_dir: Path = Path("batchq-dev")
    http_addr: str = "127.0.0.1:8080"
    metrics_addr: str = ""  # empty: dispatcher, worker and reporter serve no /health nor /metrics
    projection_interval_seconds: float = 0.5
    api_url: str = ""  # set: `batchq status` and `batchq events` read through the API, not the database
    api_token: str = ""
    alerts: AlertSettings = Field(default_factory=lambda: AlertSettings())

    @property
    def principal(self) -> str:
        """Who this program acts as: the RabbitMQ user of `BATCHQ_AMQP_URL` (the contract's principal)."""
        return principal_of(self.amqp_url)

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
