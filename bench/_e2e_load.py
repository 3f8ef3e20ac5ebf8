"""bench/e2e.py's load: distinct IT mails, the SMTP clients that send them (a burst of C at once, or one every
half second), the /health sampler, and the raw embedding baseline measured in the bench's own process."""

from __future__ import annotations

import itertools
import smtplib
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
from _e2e_desk import CORP_MTA, SUPPORT

# (subject, body) of what employees write to IT; the slots make every text distinct (so no embedding cache hits).
TEMPLATES = (
    ("Account locked", "my account {user} is locked after too many sign-in attempts since {when}, I cannot log in"),
    ("Password reset", "I forgot my password and need a reset, my user name is {user}, I tried {n} times since {when}"),
    ("VPN", "the VPN drops every {n} minutes on laptop {asset} when I work from {place}, I have to reconnect each time"),
    ("Laptop", "my laptop {asset} will not start, the power light blinks {n} times and nothing else since {when}"),
    ("Printer", "the printer on floor {floor} jams on every page, room {room}, it shows error E{code}"),
    ("Outlook", "Outlook crashes when I open a PDF attachment since {when}, error code 0x{code:04X}"),
    ("Software", "please install {app} on my laptop {asset}, my manager approved it on {day}"),
    ("Access", "I need access to the {share} share for project {project}, I joined the team on {day}"),
    ("Wi-Fi", "the Wi-Fi in meeting room {room} on floor {floor} keeps disconnecting, {n} people are affected"),
    ("Phone", "I cannot get my company email on my new phone {phone}, it asks for a password {n} times and then fails"),
    ("Teams", "{app} says the meeting link {project} is invalid for the call at {hour}:00 with {n} external guests"),
    ("Restore", "I deleted the folder {share}/{project} by mistake on {day}, can you restore it from the backup"),
    ("New starter", "a new colleague starts on {day} in room {room}, please prepare a laptop and an account"),
    ("Monitor", "the second monitor at desk {room} stays black since {when}, I tried {n} cables"),
)
USERS = ("asilva", "bnguyen", "ckowalski", "dmehta", "eokafor", "fdubois", "gricci", "hsato")
WHEN = ("this morning", "yesterday", "Monday", "last week", "the update", "lunch", "the weekend", "the office move")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
PLACES = ("home", "the hotel", "the Lyon office", "the train", "a client site", "the airport")
APPS = ("Visio", "Zoom", "Teams", "Slack", "Photoshop", "Tableau", "AutoCAD", "PyCharm")
SHARES = ("Finance", "HR-Reports", "Marketing", "Legal", "Sales-EMEA", "Design")


def it_texts(count: int, *, start: int = 0) -> list[tuple[str, str]]:
    """``count`` distinct (subject, body) pairs; ``start`` gives another batch (texts never repeat across starts)."""
    out = []
    for i in range(start, start + count):
        subject, body = TEMPLATES[i % len(TEMPLATES)]
        k = i // len(TEMPLATES)
        slots = {"user": f"{USERS[k % len(USERS)]}{i}", "when": WHEN[(i * 7) % len(WHEN)], "day": DAYS[k % len(DAYS)],
                 "n": 2 + i % 9, "place": PLACES[k % len(PLACES)], "asset": f"LT-{10000 + i}", "phone": f"PH-{5000 + i}",
                 "floor": 1 + k % 12, "room": f"{100 + i}", "code": (i * 2654435761) % 0xFFFF, "app": APPS[k % len(APPS)],
                 "share": SHARES[k % len(SHARES)], "project": f"P-{2000 + i}", "hour": 8 + i % 10}
        line = body.format(**slots)
        out.append((f"{subject} ({i})", f"Hi IT,\n\n{line[0].upper()}{line[1:]}.\n\nThanks\n"))
    assert len({b for _, b in out}) == count, "the generated texts must be distinct"
    return out


@dataclass(frozen=True)
class Sent:
    """One mail the server accepted: its Message-ID (no angle brackets) and when the 250 reached the client."""

    message_id: str
    accepted_at: float  # time.time()


def _mail(subject: str, body: str, number: int) -> tuple[EmailMessage, str]:
    sender = f"employee{number}@corp.example"  # one sender a mail: no hourly per-sender limit comes into play
    message_id = f"{uuid.uuid4().hex}@corp.example"
    m = EmailMessage()
    m["Authentication-Results"] = f"{CORP_MTA}; spf=pass smtp.mailfrom={sender}; dmarc=pass header.from=corp.example"
    m["From"], m["To"], m["Subject"], m["Message-ID"] = f"Employee {number} <{sender}>", SUPPORT, subject, f"<{message_id}>"
    m.set_content(body)
    return m, message_id


def send_burst(port: int, texts: Sequence[tuple[str, str]], clients: int, *, first_number: int) -> list[Sent]:
    """The texts over ``clients`` SMTP connections at once, each sending its share one after the other."""
    numbered = list(enumerate(texts, first_number))
    shares = [numbered[c::clients] for c in range(clients)]

    def client(share: list[tuple[int, tuple[str, str]]]) -> list[Sent]:
        sent = []
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            for number, (subject, body) in share:
                mail, message_id = _mail(subject, body, number)
                smtp.send_message(mail)
                sent.append(Sent(message_id, time.time()))
        return sent

    with ThreadPoolExecutor(clients) as pool:
        return list(itertools.chain.from_iterable(pool.map(client, shares)))


def send_paced(port: int, texts: Sequence[tuple[str, str]], every: float, *, first_number: int) -> list[Sent]:
    """One mail every ``every`` seconds, each in its own SMTP session (light load)."""
    sent = []
    next_at = time.monotonic()
    for number, (subject, body) in enumerate(texts, first_number):
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += every
        mail, message_id = _mail(subject, body, number)
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.send_message(mail)
        sent.append(Sent(message_id, time.time()))
    return sent


class HealthSampler:
    """GET /health every ``every`` seconds in a thread of its own until ``stop()``; the latencies in ms."""

    def __init__(self, base_url: str, every: float = 0.05):
        self.millis: list[float] = []
        self.errors = 0
        self._every, self._base_url = every, base_url
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self._base_url, timeout=10) as http:
            while not self._stopping.is_set():
                started = time.perf_counter()
                try:
                    ok = http.get("/health").status_code == 200
                except httpx.TransportError:
                    ok = False
                elapsed = time.perf_counter() - started
                self.millis.append(elapsed * 1000)
                self.errors += not ok
                self._stopping.wait(max(0.0, self._every - elapsed))

    def stop(self) -> list[float]:
        self._stopping.set()
        self._thread.join(15)
        return self.millis


@dataclass(frozen=True)
class EmbeddingBaseline:
    """The model alone, in this process, with the backend and thread count ``serve`` uses."""

    sentences_per_second: float  # batches of 32, longest first as the embedder sorts them
    single_ms: float  # median of one sentence at a time


def embedding_baseline(backend: str, threads: int, nlp_dir: Path, *, sentences: int = 256) -> EmbeddingBaseline:
    """Raw throughput (batch 32) and the single-sentence time, on distinct texts like those sent, past any cache."""
    from nlp.embeddings import make_embedder

    # the cache wrapper is left out: the model alone is measured (onnx reuses the int8 model built in nlp_dir/onnx)
    model = make_embedder(backend=backend, threads=threads, cache_dir=nlp_dir).inner  # type: ignore[attr-defined]
    texts = [body for _, body in it_texts(sentences + 40, start=1_000_000)]
    model.warm_up()
    started = time.perf_counter()
    model.encode(texts[:sentences])
    throughput = sentences / (time.perf_counter() - started)
    singles = []
    for text in texts[sentences:]:
        started = time.perf_counter()
        model.encode([text])
        singles.append(time.perf_counter() - started)
    return EmbeddingBaseline(throughput, statistics.median(singles) * 1000)


def percentile(values: Sequence[float], p: int) -> float | None:
    """The ``p``-th percentile (inclusive method), None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]
