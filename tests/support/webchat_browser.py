"""What the web chat page does, for the end-to-end tests: a session, the one-time code (read from the operator's
log, where a desk on loopback writes it), messages, files and the event stream."""

from __future__ import annotations

import json
import logging
import re
import uuid

import httpx


class CodeLog(logging.Handler):
    """The operator's log, where a desk on loopback writes the chat channels' one-time codes: (email, code) pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"code for (\S+): (\d{6})", record.getMessage())
        if found:
            self.codes.append((found[1], found[2]))


class Browser:
    """What the chat page does: a session, the one-time code, messages, files, and the event stream."""

    def __init__(self, base: str, codes: list[tuple[str, str]], email: str):
        self.http = httpx.Client(base_url=base, timeout=30)
        self.http.post("/chat/api/session").raise_for_status()
        self.http.post("/chat/api/verify/start", json={"email": email}).raise_for_status()
        code = next(c for e, c in reversed(codes) if e == email)
        self.http.post("/chat/api/verify/confirm", json={"code": code}).raise_for_status()
        self.seen = 0

    def say(self, text: str | None = None, action: str | None = None, replies: int = 1) -> list[dict]:
        body = {"id": str(uuid.uuid4()), **({"text": text} if text else {}), **({"action": action} if action else {})}
        response = self.http.post("/chat/api/messages", json=body)
        assert response.status_code == 202, response.text
        return self.replies(replies)

    def upload(self, name: str, content: bytes, content_type: str) -> httpx.Response:
        return self.http.post("/chat/api/files", params={"id": str(uuid.uuid4()), "name": name}, content=content,
                              headers={"Content-Type": content_type})

    def replies(self, count: int, http: httpx.Client | None = None) -> list[dict]:
        """The next ``count`` replies on a new event stream (of ``http``: this browser's session elsewhere)."""
        got: list[dict] = []
        with (http or self.http).stream("GET", "/chat/api/events", headers={"Last-Event-ID": str(self.seen)}) as stream:
            for line in stream.iter_lines():
                if line.startswith("id:"):
                    self.seen = int(line[3:].strip())
                elif line.startswith("data:"):
                    got.append(json.loads(line[5:]))
                    if len(got) == count:
                        break
        return got


