"""A real ``deskbot worker`` process killed with SIGKILL in the middle of its work.

After a restart every message is processed exactly once: the claimed-but-unfinished ones
are reclaimed when their lease runs out, and nothing finished is done again.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select

from bot.conversation import ConversationRef, Identity, InboundMessage
from bot.notices import GroupNotices
from bot.notify import LogNotifier
from bot.worker import BotSettings, Pipeline
from desk import QueueStatus, UnitOfWork, make_engine, migrate, session_factory
from desk.defaults import ensure_defaults
from desk.models import InboxRow, OutboxRow, Ticket

DESKBOT = str(Path(sys.executable).with_name("deskbot"))
MESSAGES = 40


def _counts(watch: Engine) -> dict[QueueStatus, int]:
    with watch.connect() as connection:
        return dict(connection.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all())


def _start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([DESKBOT, "worker"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_sigkill_mid_batch_then_restart_processes_each_message_once(empty_database_url, plumbing_nlp, analyzer,
                                                                    tmp_path: Path) -> None:  # noqa: ANN001
    data = tmp_path / "var"
    shutil.copytree(plumbing_nlp.registry.root, data / "models")
    shutil.copytree(plumbing_nlp.kb_dir, data / "kb_index")
    engine = make_engine(empty_database_url)
    migrate.upgrade(engine)
    uow = UnitOfWork(session_factory(engine))
    # The desk's SQLite engine takes the write lock even to read (BEGIN IMMEDIATE): a poll through it queues behind
    # the worker's transactions and sees no batch half done. A plain engine reads WAL snapshots without waiting.
    watch = create_engine(empty_database_url)
    with uow() as s:
        ensure_defaults(session=s)
    accept = Pipeline(uow=uow.publishing(GroupNotices(LogNotifier(), kb_url=BotSettings.defaults().kb_url)), analyzer=analyzer,
                        settings=BotSettings.defaults(), worker="test")
    now = dt.datetime.now(dt.UTC)
    for i in range(MESSAGES):
        who = f"user{i}@corp.example"
        accept.accept(InboundMessage(
            key=f"webchat:{uuid.uuid4()}", conversation=ConversationRef("webchat", who, ""),
            sender=Identity("webchat", who, who, who, True), received_at=now,
            text="Please install Microsoft Visio on my laptop, I need it for the network diagrams"))

    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update(DESKBOT_DATABASE_URL=empty_database_url, DESKBOT_DATA_DIR=str(data), DESKBOT_NLP_BACKEND="hashing",
               DESKBOT_KB_DIR=str(plumbing_nlp.kb_articles), DESKBOT_WORKER_LEASE_SECONDS="3")
    first = _start_worker(env, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = _counts(watch)
            if counts.get(QueueStatus.DONE, 0) >= 1 and counts.get(QueueStatus.PROCESSING, 0) >= 1:
                break
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    interrupted = _counts(watch)
    assert interrupted.get(QueueStatus.PROCESSING, 0) >= 1, f"not killed mid-work: {interrupted}"
    assert interrupted.get(QueueStatus.DONE, 0) < MESSAGES

    second = _start_worker(env, tmp_path)
    try:
        deadline = time.monotonic() + 180
        while _counts(watch).get(QueueStatus.DONE, 0) < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        output, _ = second.communicate(timeout=30)
    assert _counts(watch) == {QueueStatus.DONE: MESSAGES}, output
    assert second.returncode == 0, output
    with uow() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == MESSAGES
        replies = s.scalars(select(OutboxRow.key)).all()
        assert len(replies) == len(set(replies)) == MESSAGES
        keys = s.scalars(select(InboxRow.key)).all()
        assert sorted(r.rsplit(":reply:", 1)[0] for r in replies) == sorted(keys)
    watch.dispose()
    engine.dispose()
