"""A limit on request bodies for every route of the HTTP app, applied before any handler parses them.

A pure ASGI middleware: a ``Content-Length`` above the limit is answered 413 at once, without
reading a byte of the body; a chunked (or under-declared) body is counted as it streams, and the
request is answered 413 as soon as the count passes the limit. The handler then sees the client
as gone (``http.disconnect``) and stores nothing; what the client still sends is never buffered
(the server reads and drops it while the connection lasts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

ASGIApp = Any  # (scope, receive, send) -> awaitable; Starlette's types would tie this module to it


class BodyLimit:
    """Wraps an ASGI app; ``per_prefix`` gives some path prefixes a limit of their own (longest prefix wins)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, per_prefix: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # longest first, so that /api/uploads wins over /api
        self.per_prefix = sorted((per_prefix or {}).items(), key=lambda item: len(item[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.per_prefix if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        request = _LimitedRequest(receive=receive, send=send, limit=limit)
        try:
            await self.app(scope, request.receive, request.send)
        except Exception:
            if not request.refused:
                raise
            # The handler failed on the body we cut off (it saw a disconnect); the client has its 413.


class _LimitedRequest:
    """One request's receive and send, counting the body and answering 413 when it passes the limit."""

    def __init__(self, *, receive: Any, send: Any, limit: int) -> None:
        self._receive, self._send, self._limit = receive, send, limit
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
                    await _too_large(self._send, self._limit)
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


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps({"error": f"the request is too large (at most {limit} bytes)"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
