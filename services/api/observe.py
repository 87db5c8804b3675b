"""`/health` and `/metrics` of the API process: the whole installation as the read model sees it.

`/metrics` renders a fresh read-model snapshot (a few indexed queries) with this
process's own metrics (alerts firing, refusals, Python runtime), so a scrape always
shows the store as it is, not as some timer last saw it.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from services.adapters import health
from services.adapters.metrics import EVENT_STORE_TABLES
from services.api.context import api_of
from services.api.queries import Snapshot
from services.projections.schema import TABLES

router = APIRouter(include_in_schema=False)


class SnapshotCollector:
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snap
        jobs = GaugeMetricFamily("batchq_jobs", "Jobs by state and tenant", labels=["tenant", "state"])
        for tenant, state, n in s.jobs:
            jobs.add_metric([tenant, state], n)
        batches = GaugeMetricFamily("batchq_batches", "Batches by state and tenant", labels=["tenant", "state"])
        for tenant, state, n in s.batches:
            batches.add_metric([tenant, state], n)
        depth = GaugeMetricFamily("batchq_queue_depth", "PENDING jobs per worker pool", labels=["pool"])
        for pool, n in s.pending_by_pool.items():
            depth.add_metric([pool], n)
        failures = CounterMetricFamily("batchq_job_failures", "JobFailed events by error code", labels=["code"])
        for code, n in s.failures_by_code.items():
            failures.add_metric([code], n)
        yield from (jobs, batches, depth, failures)
        yield from _gauges(s)
        yield HistogramMetricFamily(
            "batchq_job_duration_seconds",
            "Duration of each job's last finished attempt",
            buckets=[(str(le), n) for le, n in s.durations] + [("+Inf", s.duration_count)],
            sum_value=s.duration_sum,
        )


def _gauges(s: Snapshot) -> Iterator[Metric]:
    for name, text, value in (
        ("batchq_oldest_pending_job_age_seconds", "Age of the oldest PENDING job (since it was due)",
         s.oldest_pending_seconds),
        ("batchq_stuck_jobs", "Jobs PROCESSING for longer than BATCHQ_ALERT_STUCK_SECONDS", s.stuck_jobs),
        ("batchq_abandoned_jobs", "ABANDONED jobs of batches not deleted", s.abandoned_jobs),
        ("batchq_relay_lag_events", "Events stored but not yet published to batchq.events", s.relay_lag),
        ("batchq_projection_lag_events", "Events stored but not yet in the read model", s.projection_lag),
        ("batchq_window_failed_jobs", "JobFailed events within BATCHQ_ALERT_FAILURE_WINDOW_SECONDS", s.window_failed),
        ("batchq_window_completed_jobs", "JobCompleted events within the same window", s.window_completed),
    ):  # fmt: skip
        yield GaugeMetricFamily(name, text, value=value)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    api = api_of(request)
    snap = await api.read_model.snapshot(api.now(), api.settings.alerts)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))  # type: ignore[arg-type]
    return Response(generate_latest(registry) + generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/health")
async def health_check(request: Request) -> Response:
    api = api_of(request)
    settings = api.settings
    checks = await health.database(settings.database_url, settings.database_schema, EVENT_STORE_TABLES + TABLES)
    checks.append(await health.broker(settings.amqp_url))
    if checks[0].ok:
        relay, projection = await api.read_model.lags()
        limit = settings.alerts.lag_events
        checks.append(health.Check("relay_lag", relay <= limit, {"events": relay, "threshold": limit}))
        checks.append(health.Check("projection_lag", projection <= limit, {"events": projection, "threshold": limit}))
    else:
        reason = {"reason": "database unreachable"}
        checks += [health.Check("relay_lag", False, reason), health.Check("projection_lag", False, reason)]
    status, body = health.document(checks)
    body["alerts_firing"] = list(api.firing.values())
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
