"""How every fault test ends: the batch settled, then the whole history judged by the checker.

`settled_and_sound` waits for the batch to reach its final state, reads the batch's
whole event history and the mails the SMTP sink received, and asserts what each
fault test promises: every job completed exactly once (no loss, no duplicate), one
report email, and the checker (`tests/faults/checker.py`) finds nothing, the read model
included (`tests/faults/read_model.py`: it equals every replayed aggregate). It returns
the checker's figures, which a test prints (`-s` shows them) for the README's table.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.cli import Cli, count_per_aggregate, summary
from tests.e2e.mail import reports_for
from tests.faults.checker import FENCING_CODES, History, check
from tests.faults.read_model import read_model_differences
from tests.threaded_servers import SmtpServer


def settled_and_sound(
    cli: Cli, smtp_server: SmtpServer, batch_id: str, jobs: int, *, fault: str, timeout: float = 120.0
) -> History:
    status = cli.wait_for_batch(batch_id, "COMPLETED", timeout=timeout)
    assert {j["status"] for j in status["jobs"]} == {"COMPLETED"}, summary(status)
    events = cli.events(batch_id=batch_id)
    completed = count_per_aggregate(events, "JobCompleted")
    assert len(completed) == jobs, f"{len(completed)} of {jobs} jobs completed"
    assert set(completed.values()) == {1}, {k: v for k, v in completed.items() if v != 1}
    mails = smtp_server.wait_for(1, timeout=30)
    assert len(reports_for(mails, batch_id)) >= 1
    history = judged(cli, events, smtp_server)
    fenced = [e for e in events if e["type"] == "JobFailed" and e["data"]["error"]["code"] in FENCING_CODES]
    emails = len({str(m["Message-ID"]) for m in reports_for(mails, batch_id)})
    report(fault, history, emails=emails, attempts_fenced=len(fenced))
    return history


def judged(cli: Cli, events: list[dict[str, Any]], smtp_server: SmtpServer) -> History:
    """The checker's verdict on the log and the mails, and on the read model against the replay; asserted sound."""
    history = check(events, smtp_server.messages)
    history.read_model = read_model_differences(
        cli.env["BATCHQ_DATABASE_URL"], cli.env.get("BATCHQ_DATABASE_SCHEMA", "public")
    )
    history.assert_sound()
    return history


def report(fault: str, history: History, **extra: Any) -> None:
    """One JSON line per fault test: what the README's Guarantees table is built from."""
    print(json.dumps({"fault": fault, **history.figures, **extra}))
