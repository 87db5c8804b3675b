"""The Celery side of the benchmark: a no-op task and a chord callback.

Configured from the environment so that the driver and the worker subprocess agree:
`BENCH_CELERY_BROKER` (an AMQP URL on the benchmark's own vhost), `BENCH_CELERY_BACKEND`
(Redis) and `BENCH_CELERY_PREFIX` (a key prefix, so the run's result keys can be found
and deleted afterwards without touching anybody else's).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

app = Celery(
    "bench",
    broker=os.environ.get("BENCH_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
    backend=os.environ.get("BENCH_CELERY_BACKEND", "redis://127.0.0.1:6379/0"),
)
app.conf.update(
    result_backend_transport_options={"global_keyprefix": os.environ.get("BENCH_CELERY_PREFIX", "bench-")},
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=int(os.environ.get("BENCH_CELERY_PREFETCH", "4")),
    worker_hijack_root_logger=False,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)


@app.task(name="bench.noop")
def noop() -> None:
    return None


@app.task(name="bench.done")
def done(results: list[Any]) -> dict[str, float]:
    """The chord's callback: when it ran, and how many results it saw."""
    return {"ran_at": time.time(), "results": len(results)}
