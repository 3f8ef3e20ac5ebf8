"""bench/e2e.py's desk: a scratch database, a data folder prepared as ``make run`` prepares one, a real
``deskbot serve`` process with the email channel on loopback, the relay sink its replies reach, and a read-only
look at its inbox."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from desk import QueueStatus
from desk.models import InboxRow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from loopback import free_port
from smtp_sink import Sink

DESKBOT = str(Path(sys.executable).with_name("deskbot"))
SUPPORT = "support@deskbot.example"
CORP_MTA = "mx.corp.example"  # the company's MTA: hands mail over from loopback, writes DMARC verdicts under this id
CACHE = ROOT / "var" / "bench" / "e2e"  # a trained intent model per backend, so a second run trains nothing
PREPARED = ("models", "kb_index", "nlp")  # what 'deskbot nlp train' and 'kb reindex' leave in the data folder
READY_SECONDS = 300.0


class BenchError(Exception):
    """A step of the benchmark that failed; the message says which and shows the process's last output."""


class ReplySink(Sink):
    """The company's relay on loopback: when each reply arrived, by the Message-ID it answers."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}  # In-Reply-To (no angle brackets) -> time.time() of its first reply
        self.replies = 0
        super().__init__()

    async def handle_DATA(self, server, session, envelope) -> str:
        arrived = time.time()
        mail = message_from_bytes(envelope.original_content, policy=policy.default)
        self.replies += 1
        self.arrivals.setdefault(str(mail["In-Reply-To"] or "").strip().strip("<>"), arrived)
        return "250 OK"


@dataclass(frozen=True)
class Database:
    """One scratch database: its URL for deskbot and a read-only URL for the bench's own queries."""

    kind: str  # sqlite | postgresql
    url: str
    read_url: str


@contextlib.contextmanager
def scratch_database(kind: str, folder: Path, postgres_admin: str) -> Iterator[Database]:
    """A SQLite file in ``folder``, or a fresh PostgreSQL database created here and dropped afterwards."""
    if kind == "sqlite":
        path = folder / "deskbot.db"
        # mode=ro: the bench's polls never take SQLite's write lock (deskbot's engine begins IMMEDIATE)
        yield Database(kind, f"sqlite:///{path}", f"sqlite:///file:{path}?mode=ro&uri=true")
        return
    name = f"deskbot_e2e_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - whatever the driver raises, the message says it
        admin.dispose()
        raise BenchError(f"cannot create a PostgreSQL database at {make_url(postgres_admin).render_as_string()}: "
                         f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
    url = make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield Database(kind, url, url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _active_embedder(models: Path) -> str | None:
    """The embedder id (``torch:...``, ``onnx-w8:...``) the active intent model of a registry folder needs."""
    try:
        version = (models / "ACTIVE").read_text().strip()
        return json.loads((models / version / "metadata.json").read_text()).get("embedder")
    except (OSError, ValueError):
        return None


def _backend_of(embedder_id: str | None) -> str | None:
    return None if embedder_id is None else ("onnx" if embedder_id.startswith("onnx") else embedder_id.split(":")[0])


def seed_folder(backend: str) -> Path | None:
    """Where a prepared data folder for ``backend`` is: the repository's var/ (``make run``'s), else the cache."""
    for folder in (ROOT / "var", CACHE / backend):
        if _backend_of(_active_embedder(folder / "models")) == backend:
            return folder
    return None


@dataclass
class Desk:
    """A data folder and the environment ``deskbot`` runs with (one serve at a time)."""

    folder: Path
    env: dict[str, str]
    http_port: int
    smtp_port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def run(self, *args: str, timeout: float = 1800) -> None:
        done = subprocess.run([DESKBOT, *args], check=False, cwd=self.folder, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise BenchError(f"'deskbot {' '.join(args)}' exited {done.returncode}:\n"
                             f"{(done.stdout + done.stderr)[-3000:]}")


def prepare_desk(folder: Path, database: Database, *, backend: str, threads: int, relay_port: int) -> Desk:
    """A data folder set up as ``make run`` sets one up (db upgrade, kb import, kb reindex, nlp train --if-missing),
    the trained model copied from the repository's var/ or the bench's cache (and kept there once trained)."""
    data = folder / "var"
    data.mkdir(parents=True, exist_ok=True)
    seed = seed_folder(backend)
    for part in PREPARED:
        if seed is not None and (seed / part).is_dir():
            shutil.copytree(seed / part, data / part)
    http_port, smtp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update(
        COLUMNS="200", DESKBOT_DATA_DIR=str(data), DESKBOT_DATABASE_URL=database.url,
        DESKBOT_KB_DIR=str(ROOT / "kb_articles"), DESKBOT_NLP_BACKEND=backend, DESKBOT_NLP_THREADS=str(threads),
        DESKBOT_HTTP_PORT=str(http_port), DESKBOT_PUBLIC_URL=f"http://127.0.0.1:{http_port}",
        DESKBOT_SMTP_PORT=str(smtp_port), DESKBOT_EMAIL_ADDRESSES=json.dumps([SUPPORT]),
        DESKBOT_SMTP_RELAY_HOST="127.0.0.1", DESKBOT_SMTP_RELAY_PORT=str(relay_port),
        # the company's MTA on loopback vouches for corp.example: senders are verified, as in production
        DESKBOT_SMTP_TRUSTED_RELAYS=json.dumps(["127.0.0.1/32"]), DESKBOT_EMAIL_VERIFICATION="authentication-results",
        DESKBOT_EMAIL_AUTHSERV_IDS=json.dumps([CORP_MTA]), DESKBOT_EMAIL_COMPANY_DOMAINS=json.dumps(["corp.example"]),
    )
    desk = Desk(folder, env, http_port, smtp_port, folder / "serve.log")
    desk.run("db", "upgrade")
    desk.run("kb", "import")
    desk.run("kb", "reindex")
    desk.run("nlp", "train", "--if-missing")
    if seed != ROOT / "var":
        for part in PREPARED:
            if (data / part).is_dir():
                shutil.copytree(data / part, CACHE / backend / part, dirs_exist_ok=True)
    return desk


class Serve:
    """``deskbot serve`` as a process: started, ready (``/health`` ok and SMTP answering), stopped by SIGTERM."""

    def __init__(self, desk: Desk):
        self.desk = desk
        self._log = desk.log_path.open("w")
        started = time.monotonic()
        self.process = subprocess.Popen([DESKBOT, "serve"], cwd=desk.folder, env=desk.env, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        self._wait_ready()
        self.ready_seconds = time.monotonic() - started

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.desk.log_path.read_text(errors="replace")[-chars:]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        with httpx.Client(base_url=self.desk.base_url, timeout=5) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise BenchError(f"deskbot serve exited {self.process.returncode} at start:\n{self.log_tail()}")
                try:
                    if http.get("/health").status_code == 200:
                        with smtplib.SMTP("127.0.0.1", self.desk.smtp_port, timeout=5) as smtp:
                            smtp.noop()
                        return
                except (httpx.TransportError, OSError):
                    pass
                time.sleep(0.1)
        self.stop()
        raise BenchError(f"deskbot serve was not ready after {READY_SECONDS:.0f} s:\n{self.log_tail()}")

    def check_running(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"deskbot serve exited {self.process.returncode} during the run:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


class InboxWatcher:
    """Notes when each inbox row is first seen done (or failed), polling read-only every ``every`` seconds in a
    thread of its own (never a write, never SQLite's write lock). Polled rather than read from ``done_at``
    because the worker stamps ``done_at`` with the time it claimed its batch, before the analysis."""

    def __init__(self, database: Database, every: float = 0.025):
        self.done: dict[str, float] = {}  # Message-ID (no angle brackets) -> time.time() first seen done
        self.failed: set[str] = set()
        self.every = every
        self._engine = create_engine(database.read_url)
        self._query = select(InboxRow.key, InboxRow.status).where(
            InboxRow.status.in_([QueueStatus.DONE, QueueStatus.FAILED]))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self._engine.connect() as conn:
            while not self._stopping.is_set():
                rows = conn.execute(self._query).all()
                conn.rollback()  # a fresh snapshot each poll
                seen = time.time()
                for key, status in rows:
                    message_id = key.removeprefix("email:")
                    if status == QueueStatus.FAILED:
                        self.failed.add(message_id)
                    else:
                        self.done.setdefault(message_id, seen)
                self._stopping.wait(self.every)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(10)
        self._engine.dispose()
