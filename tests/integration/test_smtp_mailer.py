"""The reporter's SMTP mailer through a real SMTP server: what arrives is what was rendered."""

from __future__ import annotations

from email.message import EmailMessage

from services.reporter.mailer import SmtpMailer
from tests.threaded_servers import SmtpServer

# A report's kinds of line: an ordinary one, one starting with a dot (SMTP's end-of-data
# marker unless doubled), a long reason, a carriage return inside a reason, and text beyond ASCII.
BODY_LINES = ["Every job:", ".hidden-looking line", "  job  FAILED  E1: " + "x" * 900, "a\rb", "naïve café"]


def message(to: str) -> EmailMessage:
    sent = EmailMessage()
    sent["Subject"], sent["From"], sent["To"] = "batch 1 FAILED", "batchq@localhost", to
    sent.set_content("\n".join(BODY_LINES * 2000) + "\n")
    return sent


def test_a_large_report_arrives_line_for_line(smtp_server: SmtpServer) -> None:
    SmtpMailer(smtp_server.url).send(message("depositor@example.org"))

    (received,) = smtp_server.wait_for(1)
    body = received.get_content()
    assert body.replace("\r\n", "\n").split("\n")[:5] == [*BODY_LINES[:3], "a", "b"]
    assert body.count(".hidden-looking line") == 2000
    assert smtp_server.envelopes == [("batchq@localhost", ["depositor@example.org"])]


def test_an_address_beyond_ascii_is_sent_too(smtp_server: SmtpServer) -> None:
    SmtpMailer(smtp_server.url).send(message("dépositaire@example.org"))

    (received,) = smtp_server.wait_for(1)
    assert str(received["To"]) == "dépositaire@example.org"
