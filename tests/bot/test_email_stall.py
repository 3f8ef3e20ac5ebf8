"""No one mail stalls the service: while the SMTP server reads a mail built to cost the most (an 80 KB
``Re: Re: ...`` subject, a large HTML body full of stray ``<``, ``[cid:`` runs and blank lines), the event loop that
HTTP shares with SMTP never holds still for long, and ``/health`` keeps answering. Real SMTP, real uvicorn, a real
database.

The loop is timed by its own CPU (the thread's clock between two ticks of a heartbeat on it), not by the probes' wall
time: on two busy cores a probe also waits for the GIL and the CPU, which says nothing about the loop; the wall-time
target under load ("/health within 100 ms") is measured by ``bench/e2e.py``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
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
# Measured here: parsed on the event loop, this mail held it 650 ms; read from the socket 256 KB at a time, 100 ms;
# FastAPI's routes built on the first request, 145 ms; as built, the loop's longest stretch is 10 to 20 ms.
LONGEST_HOLD = 0.05
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


async def _longest_hold(done: threading.Event) -> float:
    """The most CPU the loop's thread spent between two ticks of this heartbeat, until ``done``."""
    longest, last = 0.0, time.thread_time()
    while not done.is_set():
        await asyncio.sleep(0.002)
        now = time.thread_time()
        longest, last = max(longest, now - last), now
    return longest


def test_health_answers_while_a_costly_mail_is_read(uow, analyzer, desk_settings, serving,  # noqa: ANN001
                                                    tmp_path: Path) -> None:
    # HTTP, SMTP, the workers and the dispatcher on one event loop, as in 'deskbot serve'.
    with serving(Deskbot(desk_settings(email_addresses=[SUPPORT]), analyzer=analyzer)) as running:
        mail = tmp_path / "costly.eml"
        mail.write_bytes(_costly_mail().as_bytes(policy=policy.SMTP))  # CRLF line ends, as on the wire
        # The sending server is another process, as in life: its own work does not compete with the service's.
        sender = subprocess.Popen([sys.executable, "-c", SEND, str(running.service.adapters["email"].port), str(mail)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        done = threading.Event()
        heartbeat = asyncio.run_coroutine_threadsafe(_longest_hold(done), running.loop)
        with httpx.Client(base_url=running.url, timeout=10) as http:
            probes = 0
            while sender.poll() is None or probes < PROBES:
                assert http.get("/health").status_code == 200
                probes += 1
                time.sleep(0.01)
            answer = sender.communicate(timeout=60)[0]
        done.set()
        longest_hold = heartbeat.result(timeout=10)

    assert answer.startswith("250"), answer
    assert longest_hold < LONGEST_HOLD, f"the event loop ran {longest_hold * 1000:.0f} ms of CPU without a break"
    with uow() as s:
        [row] = s.scalars(select(InboxRow)).all()
        message = InboundMessage.from_json(row.payload)
    assert message.subject.startswith("Re: Re: ") and len(message.subject) == 998  # RFC 5322's line limit
    assert message.ticket_hint == 1042  # read before the subject was cut
    assert "my printer is on fire" in message.text
