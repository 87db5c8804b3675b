"""Settings from the environment: the only module that reads `os.environ`."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def principal_of(url: str) -> str:
    """The RabbitMQ user an AMQP URL logs in as (the broker's default, guest, when it names none)."""
    return unquote(urlsplit(url).username or "guest")


@dataclass(frozen=True)
class AlertSettings:
    """Alert thresholds (an alert fires when its value is above its threshold) and how often they are checked."""

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
        d = cls()
        p = "BATCHQ_ALERT_"
        return cls(
            interval_seconds=_float(p + "INTERVAL_SECONDS", d.interval_seconds),
            queue_depth=_float(p + "QUEUE_DEPTH", d.queue_depth),
            oldest_pending_seconds=_float(p + "OLDEST_PENDING_SECONDS", d.oldest_pending_seconds),
            stuck_jobs=_float(p + "STUCK_JOBS", d.stuck_jobs),
            stuck_seconds=_float(p + "STUCK_SECONDS", d.stuck_seconds),
            failure_rate=_float(p + "FAILURE_RATE", d.failure_rate),
            failure_window_seconds=_float(p + "FAILURE_WINDOW_SECONDS", d.failure_window_seconds),
            failure_min_outcomes=_int(p + "FAILURE_MIN_OUTCOMES", d.failure_min_outcomes),
            abandoned_jobs=_float(p + "ABANDONED_JOBS", d.abandoned_jobs),
            refused_per_minute=_float(p + "REFUSED_PER_MINUTE", d.refused_per_minute),
            lag_events=_float(p + "LAG_EVENTS", d.lag_events),
        )


@dataclass(frozen=True)
class Settings:
    database_url: str = "postgresql://postgres@127.0.0.1:5432/batchq"
    database_schema: str = "public"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    rabbitmq_management_url: str = ""  # empty: port 15672 of BATCHQ_AMQP_URL's host (checkpoints)
    smtp_url: str = "smtp://127.0.0.1:1025"
    mail_from: str = "batchq@localhost"
    pool: str = "default"
    queue_type: str = "quorum"
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
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
    alerts: AlertSettings = field(default_factory=lambda: AlertSettings())

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
        defaults = cls()
        return cls(
            database_url=os.environ.get("BATCHQ_DATABASE_URL", defaults.database_url),
            database_schema=os.environ.get("BATCHQ_DATABASE_SCHEMA", defaults.database_schema),
            amqp_url=os.environ.get("BATCHQ_AMQP_URL", defaults.amqp_url),
            rabbitmq_management_url=os.environ.get("BATCHQ_RABBITMQ_MANAGEMENT_URL", defaults.rabbitmq_management_url),
            smtp_url=os.environ.get("BATCHQ_SMTP_URL", defaults.smtp_url),
            mail_from=os.environ.get("BATCHQ_MAIL_FROM", defaults.mail_from),
            pool=os.environ.get("BATCHQ_POOL", defaults.pool),
            queue_type=os.environ.get("BATCHQ_QUEUE_TYPE", defaults.queue_type),
            worker_id=os.environ.get("BATCHQ_WORKER_ID", defaults.worker_id),
            worker_concurrency=_int("BATCHQ_WORKER_CONCURRENCY", defaults.worker_concurrency),
            heartbeat_seconds=_float("BATCHQ_HEARTBEAT_SECONDS", defaults.heartbeat_seconds),
            progress_interval_seconds=_float("BATCHQ_PROGRESS_INTERVAL_SECONDS", defaults.progress_interval_seconds),
            stuck_after_seconds=_float("BATCHQ_STUCK_AFTER_SECONDS", defaults.stuck_after_seconds),
            scan_seconds=_float("BATCHQ_SCAN_SECONDS", defaults.scan_seconds),
            retry_base_seconds=_float("BATCHQ_RETRY_BASE_SECONDS", defaults.retry_base_seconds),
            retry_cap_seconds=_float("BATCHQ_RETRY_CAP_SECONDS", defaults.retry_cap_seconds),
            http_timeout_seconds=_float("BATCHQ_HTTP_TIMEOUT_SECONDS", defaults.http_timeout_seconds),
            max_manifest_bytes=_int("BATCHQ_MAX_MANIFEST_BYTES", defaults.max_manifest_bytes),
            max_message_bytes=_int("BATCHQ_MAX_MESSAGE_BYTES", defaults.max_message_bytes),
            manifest_allowed_networks=os.environ.get(
                "BATCHQ_MANIFEST_ALLOWED_NETWORKS", defaults.manifest_allowed_networks
            ),
            max_jobs=_int("BATCHQ_MAX_JOBS", defaults.max_jobs),
            log_level=os.environ.get("BATCHQ_LOG_LEVEL", defaults.log_level),
            relay_principal=os.environ.get("BATCHQ_RELAY_PRINCIPAL", defaults.relay_principal),
            relay_amqp_url=os.environ.get("BATCHQ_RELAY_AMQP_URL", defaults.relay_amqp_url),
            dev_dir=Path(os.environ.get("BATCHQ_DEV_DIR", str(defaults.dev_dir))),
            http_addr=os.environ.get("BATCHQ_HTTP_ADDR", defaults.http_addr),
            metrics_addr=os.environ.get("BATCHQ_METRICS_ADDR", defaults.metrics_addr),
            projection_interval_seconds=_float(
                "BATCHQ_PROJECTION_INTERVAL_SECONDS", defaults.projection_interval_seconds
            ),
            api_url=os.environ.get("BATCHQ_API_URL", defaults.api_url),
            api_token=os.environ.get("BATCHQ_API_TOKEN", defaults.api_token),
            alerts=AlertSettings.from_env(),
        )
