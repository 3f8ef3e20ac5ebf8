"""The web chat's HTTP plumbing: JSON error answers, request bodies, addresses and ids from requests."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from fastapi import Request
from fastapi.responses import JSONResponse, Response

MAX_BODY = 64 * 1024  # bytes of one JSON request body
NO_STORE = {"Cache-Control": "no-store"}


class Problem(Exception):
    """An API error: becomes a JSON body ``{"error": message, ...}`` with the status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message, **self.extra}, status_code=self.status, headers={**NO_STORE, **self.headers})


def api(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(*args, **kwargs)
        except Problem as problem:
            return problem.response()

    return wrapper


def too_many_problem(what: str, wait: dt.timedelta) -> Problem:
    seconds = max(1, math.ceil(wait.total_seconds()))
    return Problem(429, f"{what}: please try again in {-(-seconds // 60)} minute(s)",
                   headers={"Retry-After": str(seconds)}, retry_after=seconds)


def too_many(what: str, wait: dt.timedelta) -> NoReturn:
    raise too_many_problem(what, wait)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def parse_event_id(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 18 else None


async def json_object(request: Request) -> tuple[dict[str, Any], str]:
    """The body as a JSON object, and its text (kept as ``raw`` for audit)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Problem(413, f"the request is too large (at most {MAX_BODY} bytes)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Problem(413, f"the request is too large (at most {MAX_BODY} bytes)")
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except ValueError:
        raise Problem(422, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise Problem(422, "the body must be a JSON object")
    return data, text
