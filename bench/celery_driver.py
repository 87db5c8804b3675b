"""Send one chord of N no-op tasks and wait for its callback; print the times as JSON.

Run by `bench.run` as a subprocess (`python -m bench.celery_driver N`), configured by the same
`BENCH_CELERY_*` variables as the worker, so that every run gets a fresh Celery app, broker
connection and Redis result consumer, and nothing of one run's app lingers into the next.
"""

from __future__ import annotations

import gc
import json
import sys
import time

import redis
from celery import chord

from bench import celery_app
from bench.infra import REDIS_URL

POLL_SECONDS = 0.02


def main() -> int:
    n = int(sys.argv[1])
    prefix = celery_app.app.conf.result_backend_transport_options["global_keyprefix"]
    backend = redis.Redis.from_url(REDIS_URL)
    header = [celery_app.noop.s() for _ in range(n)]
    sent_at = time.time()
    result = chord(header)(celery_app.done.s())
    sent_done = time.time()
    callback_id = result.id
    del result
    # Poll the callback's result key with a plain GET: `AsyncResult.get()` on a chord's
    # result spins a CPU in the Redis result consumer here, which on 2 cores slows the
    # worker it is waiting for (measured: 4.7 ms of driver CPU per task).
    key = f"{prefix}celery-task-meta-{callback_id}"
    deadline = time.monotonic() + 120 + n / 20
    while (meta := backend.get(key)) is None or json.loads(meta)["status"] not in ("SUCCESS", "FAILURE"):
        if time.monotonic() > deadline:
            print(json.dumps({"error": f"the chord's callback did not run within {120 + n / 20:.0f} s"}))
            return 1
        time.sleep(POLL_SECONDS)
    got_at = time.time()
    # The chord's apply registered every header result as pending (and subscribed to it in
    # Redis): let go of them while Redis and the interpreter are still up.
    for pending in celery_app.app.backend._pending_results:
        pending.clear()
    gc.collect()
    state = json.loads(meta)
    if state["status"] != "SUCCESS":
        print(json.dumps({"error": f"the chord's callback failed: {state.get('result')}"}))
        return 1
    print(json.dumps({"sent_at": sent_at, "sent_done": sent_done, "got_at": got_at, "outcome": state["result"]}))
    celery_app.app.close()
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
