"""The report emails as the demo reads them back from the mail folder.

The wording of a report is the reporter's (`services/reporter/rendering.py`);
the jobs an update names as changed are read back by the renderer's own
`changed_jobs`, so the demo never keeps a copy of that wording.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.reporter.rendering import changed_jobs


@dataclass(frozen=True)
class Mail:
    path: Path
    batch_id: str
    subject: str
    body: str
    changed: list[str]  # job ids under "Changed since the last report"


def read_mails(folder: Path) -> list[Mail]:
    mails = []
    for path in sorted(folder.glob("*.eml")):
        msg: Any = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_content()
        mails.append(Mail(path, str(msg["X-Batchq-Batch-Id"]), str(msg["Subject"]), body, changed_jobs(body)))
    return mails
