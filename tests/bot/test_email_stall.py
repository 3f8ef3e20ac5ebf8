"""No one mail stalls the service: while the SMTP server reads a mail built to cost the most (an 80 KB
``Re: Re: ...`` subject, a large HTML body full of stray ``<``, ``[cid:`` runs and blank lines), the HTTP
server in the same process and event loop keeps answering ``/health``. Real SMTP, real uvicorn, a real database."""

from __future__ import annotations

import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlalchemy import select

from bot.composition import Deskbot
from bot.conversation import InboundMessage
from desk.models import InboxRow

SUPPORT = "support@deskbot.example"
PROBES = 10
# DATA's final reply comes only once the mail is parsed and committed: the service is probed until then.
SEND = """
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60) as client:
    client.ehlo()
    client.mail("ana@corp.example")
    client.rcpt("%s")
    code, text = client.data(open(sys.argv[2], "rb").read())
    print(code, text.decode())
""" % SUPPORT


def _costly_mail() -> EmailMessage:
    """The subject that backtracked for 22 s, and 1.2 MB of HTML made of what each text step finds hardest
    (parsed on the event loop, this mail held it for about 0.4 s)."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Message-ID"] = "Ana Silva <ana@corp.example>", SUPPORT, "<stall@corp.example>"
    mail["Subject"] = "Re: " * 20_000 + "printer on fire [#1042]"
    body = ("<p>my printer is on fire</p>\n" + "<b" * 40 + "\n" + "[cid:" * 16 + "\n\n\n\n") * 6_000
    mail.set_content(body, subtype="html")
    return mail


def test_health_answers_while_a_costly_mail_is_read(uow, analyzer, desk_settings, serving,  # noqa: ANN001
                                                    tmp_path: Path) -> None:
    # HTTP, SMTP, the workers and the dispatcher on one event loop, as in 'deskbot serve'.
    with serving(Deskbot(desk_settings(email_addresses=[SUPPORT]), analyzer=analyzer)) as running:
        mail = tmp_path / "costly.eml"
        mail.write_bytes(_costly_mail().as_bytes(policy=policy.SMTP))  # CRLF line ends, as on the wire
        # The sending server is another process, as in life: its own work does not compete with the service's.
        sender = subprocess.Popen([sys.executable, "-c", SEND, str(running.service.adapters["email"].port), str(mail)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with httpx.Client(base_url=running.url, timeout=10) as http:
            http.get("/health").raise_for_status()  # a warm connection: the probes time the server, not the handshake
            latencies: list[float] = []
            while sender.poll() is None or len(latencies) < PROBES:
                started = time.perf_counter()
                assert http.get("/health").status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.01)
            answer = sender.communicate(timeout=60)[0]

    assert answer.startswith("250"), answer
    # Parsed on the event loop, this mail held every probe for 0.3 to 0.6 s; off it, probes take 20 to 60 ms.
    assert max(latencies) < 0.1, f"slowest /health {max(latencies) * 1000:.0f} ms of {len(latencies)} probes"
    with uow() as s:
        [row] = s.scalars(select(InboxRow)).all()
        message = InboundMessage.from_json(row.payload)
    assert message.subject.startswith("Re: Re: ") and len(message.subject) == 998  # RFC 5322's line limit
    assert message.ticket_hint == 1042  # read before the subject was cut
    assert "my printer is on fire" in message.text
