"""Alerts evaluated in the API process: read-model numbers in, `domain.alerts` decides, we log and gauge.

The refused-messages alert is the one exception: refusals are counted by the
process that refuses (`batchq_messages_refused_total` on each service's
`/metrics`), so Prometheus judges their rate (deploy/prometheus/alerts.yml).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg

from domain.alerts import AlertKey, Firing, evaluate, failure_rate
from services.adapters.logging import get_logger
from services.adapters.metrics import ALERT_FIRING
from services.adapters.settings import AlertSettings
from services.api.context import Api
from services.api.queries import Snapshot

log = get_logger("batchq.alerts")


def thresholds(alerts: AlertSettings) -> dict[str, float]:
    return {
        "queue_depth": alerts.queue_depth,
        "oldest_pending_seconds": alerts.oldest_pending_seconds,
        "stuck_jobs": alerts.stuck_jobs,
        "failure_rate": alerts.failure_rate,
        "abandoned_jobs": alerts.abandoned_jobs,
        "relay_lag": alerts.lag_events,
        "projection_lag": alerts.lag_events,
    }


def values(snap: Snapshot, alerts: AlertSettings, known_pools: set[str]) -> dict[AlertKey, float | None]:
    """Every pool seen so far gets a value (0 once it is empty), so its alert can clear."""
    found: dict[AlertKey, float | None] = {
        ("queue_depth", pool): float(snap.pending_by_pool.get(pool, 0)) for pool in known_pools
    }
    found.update(
        {
            ("oldest_pending_seconds", "all"): snap.oldest_pending_seconds,
            ("stuck_jobs", "all"): float(snap.stuck_jobs),
            ("failure_rate", "all"): failure_rate(
                snap.window_failed, snap.window_completed, alerts.failure_min_outcomes
            ),
            ("abandoned_jobs", "all"): float(snap.abandoned_jobs),
            ("relay_lag", "all"): float(snap.relay_lag),
            ("projection_lag", "all"): float(snap.projection_lag),
        }
    )
    return found


class AlertEvaluator:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.firing: dict[AlertKey, Firing] = {}
        self.pools: set[str] = {api.settings.pool}

    async def check(self) -> None:
        settings = self.api.settings.alerts
        snap = await self.api.read_model.snapshot(self.api.now(), settings)
        self.pools |= set(snap.pending_by_pool)
        changes = evaluate(values(snap, settings, self.pools), thresholds(settings), self.firing)
        for f in changes.raised:
            log.warning("alert_raised", alert=f.alert, subject=f.subject, value=f.value, threshold=f.threshold)
            ALERT_FIRING.labels(alert=f.alert, subject=f.subject).set(1)
        for f in changes.cleared:
            log.info("alert_cleared", alert=f.alert, subject=f.subject, value=f.value, threshold=f.threshold)
            ALERT_FIRING.labels(alert=f.alert, subject=f.subject).set(0)
        self.firing = dict(changes.firing)
        self.api.firing = {key: _shown(f) for key, f in self.firing.items()}

    async def run(self, stopping: asyncio.Event) -> None:
        for alert in thresholds(self.api.settings.alerts):  # every alert shows, 0 until it fires
            ALERT_FIRING.labels(alert=alert, subject="all" if alert != "queue_depth" else self.api.settings.pool)
        while not stopping.is_set():
            try:
                await self.check()
            except (psycopg.Error, OSError, TimeoutError) as error:
                log.warning("alerts_not_evaluated", reason=" ".join(str(error).split()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.api.settings.alerts.interval_seconds)


def _shown(f: Firing) -> dict[str, Any]:
    return {"alert": f.alert, "subject": f.subject, "value": f.value, "threshold": f.threshold}
