"""One log line per stored event, written by the process that stored it (QUEUE-017).

Logging at the append, in one place, is what makes "one JSON line per state
change" true for every event type, including the ones no handler thought to log
(a job submitted or skipped, a batch completed): the line's name is the event's
type in snake case (`JobStarted` → `job_started`), and it carries the ids an
operator greps for: `job_uuid` (job events), `batch_id`, `user_id`, `trace_id`,
`tenant`, with the event's `position`. Personal data stays out: no params, no
error reasons or tracebacks, only an error's code and stage; the depositor is
named by `subject_ref`, the keyed hash of the key table, never by `user_id`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from domain.personal import DEPOSITOR_AGGREGATES
from services.adapters.envelopes import aggregate_type
from services.adapters.logging import get_logger

if TYPE_CHECKING:
    from services.adapters.store import Recorded

log = get_logger("batchq.events")

# A person must act on these (QUEUE-010): warnings, so an alerting rule can match the level.
NEEDS_ATTENTION = frozenset({"JobAbandoned", "JobStuck"})
_DETAILS = ("attempt", "worker_id", "pool")


@cache
def log_name(event_type: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event_type).lower()


def log_appended(recorded: Sequence[Recorded], subject_ref: Callable[[str, str], str]) -> None:
    # Below the info level most lines are dropped: skip building them (a cost per job otherwise).
    everything = logging.getLogger().isEnabledFor(logging.INFO)
    for record in recorded:
        event = record.event
        event_type = type(event).__name__
        if not everything and event_type not in NEEDS_ATTENTION:
            continue
        fields: dict[str, Any] = vars(event)
        kind = aggregate_type(event)
        line: dict[str, Any] = {
            "position": record.position,
            "aggregate_type": kind,
            "aggregate_id": str(event.originator_id),
            "aggregate_version": event.originator_version,
            "tenant": fields.get("tenant"),
            "batch_id": str(fields["batch_id"]) if fields.get("batch_id") else None,
            "trace_id": fields.get("trace_id"),
        }
        if kind in DEPOSITOR_AGGREGATES:
            line["subject_ref"] = subject_ref(fields["tenant"], fields["user_id"])
        else:
            line["principal"] = fields.get("user_id")  # the system's events name an operator, not a depositor
        if kind == "job":
            line["job_uuid"] = line["aggregate_id"]
        line.update((name, fields[name]) for name in _DETAILS if name in fields)
        error = fields.get("error")
        if isinstance(error, dict):
            line["code"], line["stage"] = error.get("code"), error.get("stage")
        elif "code" in fields:
            line["code"] = fields["code"]
        emit = log.warning if event_type in NEEDS_ATTENTION else log.info
        emit(log_name(event_type), **line)
