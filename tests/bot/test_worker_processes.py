"""``deskbot serve`` with worker processes (``DESKBOT_WORKERS``), as real processes on SQLite and PostgreSQL.

The messages are handled in the children, not in serve; a child killed mid-work is started again and every
message is still handled exactly once; a serve killed outright leaves no worker behind; a worker that cannot start
stops the start, naming it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select

from bot.worker import BotSettings, Pipeline
from bot.worker_processes import WorkerProcesses, WorkerStartError
from deskbot_process import DESKBOT
from desk.models import InboxRow, OutboxRow, Ticket
from desk import QueueStatus
from loopback import free_port, wait_for

MESSAGES = 40


class Serve:
    """A ``deskbot serve`` process and everything it printed."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.process = subprocess.Popen([DESKBOT, "serve"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(iter(self.process.stdout.readline, "")),
                                        daemon=True)
        self._reader.start()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def children(self) -> list[int]:
        """The pids of serve's live child processes (its workers)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                # pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis
                state, ppid = stat.rsplit(")", 1)[1].split()[:2]
                if int(ppid) == self.process.pid and state != "Z":
                    found.append(int(entry.name))
        return found

    def finish(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(5)


def _env(database_url: str, folder: Path, plumbing_nlp, **settings: str) -> dict[str, str]:  # noqa: ANN001
    data = folder / "var"
    shutil.copytree(plumbing_nlp.registry.root, data / "models")
    shutil.copytree(plumbing_nlp.kb_dir, data / "kb_index")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update(DESKBOT_DATABASE_URL=database_url, DESKBOT_DATA_DIR=str(data), DESKBOT_NLP_BACKEND="hashing",
               DESKBOT_KB_DIR=str(plumbing_nlp.kb_articles), DESKBOT_HTTP_PORT=str(free_port()),
               DESKBOT_SMTP_PORT=str(free_port()), DESKBOT_WEBCHAT_ENABLED="false", COLUMNS="200", **settings)
    subprocess.run([DESKBOT, "db", "upgrade"], cwd=folder, env=env, check=True, capture_output=True, timeout=120)
    return env


def _ready(serve: Serve, env: dict[str, str]) -> None:
    def health() -> bool:
        assert serve.process.poll() is None, serve.log
        try:
            return httpx.get(f"http://127.0.0.1:{env['DESKBOT_HTTP_PORT']}/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(health, "serve's /health", timeout=120)


def _mail(port: int, i: int) -> None:
    message = EmailMessage()
    message["From"], message["To"] = f"user{i}@corp.example", "support@deskbot.example"
    message["Subject"], message["Message-ID"] = "Visio", f"<visio-{i}@corp.example>"
    message.set_content("Please install Microsoft Visio on my laptop, I need it for the network diagrams")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(message)


def _statuses(watch: Engine) -> dict[QueueStatus, int]:
    with watch.connect() as connection:
        return dict(connection.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all())


def test_workers_handle_the_messages_and_one_killed_mid_work_is_replaced_without_losing_or_repeating_any(
        empty_database_url, plumbing_nlp, tmp_path: Path) -> None:  # noqa: ANN001
    env = _env(empty_database_url, tmp_path, plumbing_nlp, DESKBOT_WORKERS="2", DESKBOT_WORKER_LEASE_SECONDS="3",
               DESKBOT_WORKER_BATCH_SIZE="4")
    watch = create_engine(empty_database_url)  # reads without queueing behind the desk's write lock (SQLite)
    serve = Serve(env, tmp_path)
    try:
        _ready(serve, env)
        assert "worker process 1" in serve.log and "worker process 2" in serve.log, serve.log
        workers = serve.children()
        assert len(workers) == 2, serve.log
        for i in range(MESSAGES):
            _mail(int(env["DESKBOT_SMTP_PORT"]), i)
        wait_for(lambda: _statuses(watch).get(QueueStatus.DONE, 0) >= 4, "some messages done", timeout=120)
        os.kill(workers[0], signal.SIGKILL)
        wait_for(lambda: len(set(serve.children()) - set(workers)) == 1, "a new worker in place of the killed one",
                 timeout=60)
        wait_for(lambda: _statuses(watch) == {QueueStatus.DONE: MESSAGES}, "every message done", timeout=180)
        with watch.connect() as connection:
            handled_by = set(connection.scalars(select(InboxRow.worker)).all())
            assert connection.scalar(select(func.count()).select_from(Ticket)) == MESSAGES
            replies = connection.scalars(select(OutboxRow.key)).all()
    finally:
        serve.finish()
        watch.dispose()
    assert serve.process.returncode == 0, serve.log[-3000:]
    assert "ended with exit code -9; starting it again" in serve.log
    # handled in the workers (their pids), none in serve itself
    pids = {int(name.rsplit(":", 1)[1]) for name in handled_by}
    assert serve.process.pid not in pids and len(pids) >= 2, handled_by
    assert len(replies) == len(set(replies)) == MESSAGES  # one confirmation a message: none twice, none lost


def test_a_serve_killed_outright_leaves_no_worker_running(plumbing_nlp, tmp_path: Path) -> None:  # noqa: ANN001
    env = _env(f"sqlite:///{tmp_path / 'desk.db'}", tmp_path, plumbing_nlp, DESKBOT_WORKERS="2")
    serve = Serve(env, tmp_path)
    try:
        _ready(serve, env)
        workers = serve.children()
        assert len(workers) == 2, serve.log
        serve.process.kill()  # no SIGTERM, no clean-up: the workers see their stdin end
        serve.process.wait(10)

        def gone() -> bool:
            return not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in workers)

        wait_for(gone, "the workers to end after serve", timeout=60)
    finally:
        serve.finish()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_a_worker_that_ends_before_it_is_ready_stops_the_start_naming_it(uow, analyzer) -> None:  # noqa: ANN001
    pipeline = Pipeline(uow=uow, analyzer=analyzer, settings=BotSettings.defaults(), worker="test")
    broken = (sys.executable, "-c", "import sys; sys.exit(3)")  # a worker whose settings do not load, say
    workers = WorkerProcesses(count=2, pipeline=pipeline, command=broken)

    async def start() -> None:
        await workers.start()

    with pytest.raises(WorkerStartError, match=r"worker process \d ended with exit code 3 before it was ready"):
        asyncio.run(start())
    assert workers.pids == []  # the other one is not left running


def test_a_worker_that_stays_silent_is_stopped_after_the_ready_time(uow, analyzer) -> None:  # noqa: ANN001
    pipeline = Pipeline(uow=uow, analyzer=analyzer, settings=BotSettings.defaults(), worker="test")
    silent = (sys.executable, "-c", "import time; time.sleep(60)")
    workers = WorkerProcesses(count=1, pipeline=pipeline, command=silent, ready_seconds=1)

    async def start() -> None:
        await workers.start()

    started = time.monotonic()
    with pytest.raises(WorkerStartError, match="not ready after 1 s"):
        asyncio.run(start())
    assert time.monotonic() - started < 30 and workers.pids == []
