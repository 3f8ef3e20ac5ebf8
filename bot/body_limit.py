"""A limit on request bodies for every route of the HTTP app, applied before any handler parses them.

A pure ASGI middleware: a ``Content-Length`` above the limit is answered 413 at once, without
reading a byte of the body; a chunked (or under-declared) body is counted as it streams, and the
request is answered 413 as soon as the count passes the limit. The handler then sees the client
as gone (``http.disconnect``) and stores nothing; what the client still sends is never buffered
(the server reads and drops it while the connection lasts).

The 413's JSON body is ``{"error": "..."}``, or what ``answers`` gives for a path prefix (the REST API answers in
its own error shape).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

ASGIApp = Any  # (scope, receive, send) -> awaitable; Starlette's types would tie this module to it
Answer = Callable[[str], Mapping[str, object]]  # the 413's message -> its JSON body


def plain_answer(message: str) -> Mapping[str, object]:
    return {"error": message}


class BodyLimit:
    """Wraps an ASGI app; ``per_prefix`` gives some path prefixes a limit of their own, ``answers`` a 413 body of
    their own (longest prefix wins)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, per_prefix: Mapping[str, int] | None = None,
                 answers: Mapping[str, Answer] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_prefix = _longest_first(per_prefix or {})
        self.answers = _longest_first(answers or {})

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.per_prefix if path.startswith(prefix)), self.max_bytes)

    def answer_for(self, path: str) -> Answer:
        return next((answer for prefix, answer in self.answers if path.startswith(prefix)), plain_answer)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit, answer = self.limit_for(path), self.answer_for(path)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit, answer)
            return
        request = _LimitedRequest(receive=receive, send=send, limit=limit, answer=answer)
        try:
            await self.app(scope, request.receive, request.send)
        except Exception:
            if not request.refused:
                raise
            # The handler failed on the body we cut off (it saw a disconnect); the client has its 413.


class _LimitedRequest:
    """One request's receive and send, counting the body and answering 413 when it passes the limit."""

    def __init__(self, *, receive: Any, send: Any, limit: int, answer: Answer) -> None:
        self._receive, self._send, self._limit, self._answer = receive, send, limit, answer
        self._received = 0
        self._response_started = False
        self.refused = False

    async def receive(self) -> dict[str, Any]:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                self.refused = True
                if not self._response_started:
                    await _too_large(self._send, self._limit, self._answer)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: dict[str, Any]) -> None:
        if self.refused:
            return  # the client has had its 413: whatever the handler answers now is dropped
        if message["type"] == "http.response.start":
            self._response_started = True
        await self._send(message)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _longest_first(by_prefix: Mapping[str, Any]) -> list[tuple[str, Any]]:
    # so that /api/uploads wins over /api
    return sorted(by_prefix.items(), key=lambda item: len(item[0]), reverse=True)


async def _too_large(send: Any, limit: int, answer: Answer) -> None:
    body = json.dumps(answer(f"the request is too large (at most {limit} bytes)")).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
