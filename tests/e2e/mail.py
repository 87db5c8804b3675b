"""Reading the status report emails the SMTP catcher received."""

from __future__ import annotations

from email.message import EmailMessage


def subject(message: EmailMessage) -> str:
    return str(message["Subject"])


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",)) or message
    return str(part.get_content())  # type: ignore[union-attr]


def reports_for(messages: list[EmailMessage], batch_id: str) -> list[EmailMessage]:
    """The messages whose subject names `batch_id`."""
    return [m for m in messages if batch_id in subject(m)]


def changed_section(text: str) -> str:
    """The part of an update report between its 'changed' heading and the full job list.

    The contract says an update report names the jobs that changed; the report lists every job
    too, so a job id anywhere in the body proves nothing. Falls back to the whole body when
    the report has no separate list of every job.
    """
    lower = text.lower()
    start = lower.find("changed")
    end = lower.find("every job", start + 1) if start >= 0 else -1
    if start < 0:
        return text
    return text[start:end] if end > start else text[start:]


def job_line(text: str, job_uuid: str) -> str:
    """The first line of a report that names `job_uuid` (AssertionError if none does)."""
    for line in text.splitlines():
        if job_uuid in line:
            return line
    raise AssertionError(f"the report does not name job {job_uuid}:\n{text}")
