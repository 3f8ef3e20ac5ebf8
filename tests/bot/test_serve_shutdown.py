"""``deskbot serve`` as a real process: SIGTERM stops accepting, finishes in-flight work,
and leaves the rest in the inbox (nothing lost, nothing half done)."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import func, select

from desk import QueueStatus, UnitOfWork, make_engine, session_factory
from desk.models import InboxRow, OutboxRow
from deskbot_process import DESKBOT, plumbing_desk



def test_sigterm_drains_in_flight_work_and_keeps_the_rest(plumbing_nlp, tmp_path: Path) -> None:  # noqa: ANN001
    env = plumbing_desk(plumbing_nlp, tmp_path)
    port = int(env["DESKBOT_HTTP_PORT"])
    server = subprocess.Popen([DESKBOT, "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(server.stdout.readline, "")), daemon=True)
    reader.start()
    sent = 0
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                http.post("/chat/api/session").raise_for_status()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        http.post("/chat/api/verify/start", json={"email": "dee@corp.example"}).raise_for_status()
        while not (codes := re.findall(r"code for dee@corp\.example: (\d{6})", "".join(log))):
            time.sleep(0.05)
        http.post("/chat/api/verify/confirm", json={"code": codes[-1]}).raise_for_status()
        for i in range(30):
            response = http.post("/chat/api/messages",
                                 json={"id": str(uuid.uuid4()), "text": "please install Visio on my laptop"})
            assert response.status_code == 202
            sent += 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        reader.join(5)
    assert "Application shutdown complete" in "".join(log)
    assert server.returncode == 0, "".join(log)[-2000:]

    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'deskbot.db'}")
    uow = UnitOfWork(session_factory(engine))
    with uow() as s:
        statuses = dict(s.execute(select(InboxRow.status, func.count()).group_by(InboxRow.status)).all())
        replies = s.scalar(select(func.count()).select_from(OutboxRow))
    engine.dispose()
    assert sum(statuses.values()) == sent == 30  # every acknowledged message is stored
    assert QueueStatus.PROCESSING not in statuses  # nothing left half done
    assert QueueStatus.FAILED not in statuses
    # Messages sit in one conversation and are handled in order: what was done has its reply, the rest waits.
    assert replies == statuses.get(QueueStatus.DONE, 0)
