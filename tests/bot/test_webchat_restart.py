"""Web chat sessions survive a restart of a real ``deskbot serve`` process (SQLite file): a verified session keeps
its identity and its tickets; a forged cookie or a made-up session gets nothing."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from deskbot_process import DESKBOT, plumbing_desk



@contextmanager
def deskbot_serve(folder: Path, env: dict[str, str]) -> Iterator[list[str]]:
    """``deskbot serve`` in ``folder`` until the block ends (then SIGTERM); yields its log lines so far."""
    server = subprocess.Popen([DESKBOT, "serve"], cwd=folder, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(iter(server.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=f"http://127.0.0.1:{env['DESKBOT_HTTP_PORT']}", timeout=5) as probe:
            while True:
                assert time.monotonic() < deadline and server.poll() is None, "".join(log)[-2000:]
                try:
                    if probe.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
        yield log
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        reader.join(5)
    assert server.returncode == 0, "".join(log)[-2000:]


def _reply(chat: httpx.Client, seen: int) -> tuple[int, str]:
    with chat.stream("GET", "/chat/api/events", headers={"Last-Event-ID": str(seen)}) as stream:
        event_id = seen
        for line in stream.iter_lines():
            if line.startswith("id:"):
                event_id = int(line[3:])
            elif line.startswith("data:"):
                return event_id, line
    raise AssertionError("the stream ended without a reply")


def test_a_verified_session_survives_a_restart_and_a_forged_one_gets_nothing(plumbing_nlp, tmp_path: Path) -> None:  # noqa: ANN001
    env = plumbing_desk(plumbing_nlp, tmp_path)
    port = int(env["DESKBOT_HTTP_PORT"])
    chat = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    with deskbot_serve(tmp_path, env) as log:
        chat.post("/chat/api/session").raise_for_status()
        chat.post("/chat/api/verify/start", json={"email": "dee@corp.example"}).raise_for_status()
        while not (codes := re.findall(r"code for dee@corp\.example: (\d{6})", "".join(log))):
            time.sleep(0.05)
        chat.post("/chat/api/verify/confirm", json={"code": codes[-1]}).raise_for_status()
        body = {"id": str(uuid.uuid4()), "text": "Could I get access to the Marketing shared drive please?"}
        assert chat.post("/chat/api/messages", json=body).status_code == 202
        seen, opened = _reply(chat, 0)
        ticket = re.search(r'"ticket_ref": "(#\d+)"', opened)[1]

    with deskbot_serve(tmp_path, env):
        assert chat.get("/chat/api/session").json() == {"verified": True, "email": "dee@corp.example"}
        body = {"id": str(uuid.uuid4()), "text": "any news on my tickets?"}
        assert chat.post("/chat/api/messages", json=body).status_code == 202
        _, news = _reply(chat, seen)
        assert ticket in news

        token = chat.cookies["deskbot_chat"]
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        for credentials in ({"cookies": {"deskbot_chat": forged}}, {"headers": {"X-Chat-Session": "made-up"}}):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, **credentials) as stranger:
                for method, path in (("GET", "/chat/api/session"), ("GET", "/chat/api/events"),
                                     ("POST", "/chat/api/messages")):
                    refused = stranger.request(method, path, json={"id": "x1", "text": "my tickets?"}
                                               if method == "POST" else None)
                    assert refused.status_code == 401 and refused.json()["restart"] is True
                    assert "unknown or expired chat session" in refused.json()["error"]
    chat.close()
