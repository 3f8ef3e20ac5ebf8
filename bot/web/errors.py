"""The API's one error shape: ``{"error": {"code": "not_authenticated", "message": "..."}}``.

Installed on the app for paths under ``/api/v1``; the other routes (/slack, /chat, /kb, /health) keep the
answers they had. A caller's mistake is a 4xx whose message says what is wrong; a failure of ours is a
500 with a generic message (the traceback goes to the log, never to the caller).
"""

from __future__ import annotations

import enum
import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from desk import DatabaseUnavailable, DeskError, DuplicateKey, InvalidTransition, NotFound

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)


class ErrorCode(enum.StrEnum):
    NOT_AUTHENTICATED = "not_authenticated"
    FORBIDDEN = "forbidden"
    CSRF_FAILED = "csrf_failed"
    INVALID_REQUEST = "invalid_request"
    REFUSED = "refused"  # the desk refused the request (its message says why)
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"  # also the body limit's 413 (bot.body_limit), before any route
    RATE_LIMITED = "rate_limited"
    DATABASE_UNAVAILABLE = "database_unavailable"
    NLP_UNAVAILABLE = "nlp_unavailable"  # this process runs without the model and the KB index
    INTERNAL_ERROR = "internal_error"
    HTTP_ERROR = "http_error"  # any other status


_CODE_OF_STATUS = {
    400: ErrorCode.INVALID_REQUEST, 401: ErrorCode.NOT_AUTHENTICATED, 403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED, 409: ErrorCode.CONFLICT, 413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.INVALID_REQUEST, 429: ErrorCode.RATE_LIMITED, 503: ErrorCode.DATABASE_UNAVAILABLE,
}


class ApiError(StarletteHTTPException):
    """An error the API answers on purpose, with its code and a message for the caller."""

    def __init__(self, status: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


def error_body(*, code: ErrorCode, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code.value, "message": message}}


def too_large_body(message: str) -> dict[str, dict[str, str]]:
    """The body limit's 413 on the API's paths (``bot.body_limit.BodyLimit``'s ``answers``)."""
    return error_body(code=ErrorCode.PAYLOAD_TOO_LARGE, message=message)


def error_response(*, status: int, code: ErrorCode, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code=code, message=message), status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DeskError, _desk_error)
    app.add_exception_handler(Exception, _unexpected_error)


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not _is_api(request):
        return await http_exception_handler(request, exc)
    code = exc.code if isinstance(exc, ApiError) else _CODE_OF_STATUS.get(exc.status_code, ErrorCode.HTTP_ERROR)
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and not isinstance(exc, ApiError):
        message = f"no such API route: {request.method} {request.url.path}"
    elif exc.status_code == 405 and not isinstance(exc, ApiError):
        message = f"{request.method} is not allowed on {request.url.path}"
    return error_response(status=exc.status_code, code=code, message=message, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not _is_api(request):
        return await request_validation_exception_handler(request, exc)
    return error_response(status=422, code=ErrorCode.INVALID_REQUEST, message=_what_is_invalid(exc))


def _what_is_invalid(exc: RequestValidationError) -> str:
    """E.g. ``body.password: Field required; body.username: String should have at least 1 character``."""
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    return "; ".join(problems) or "the request is not valid"


def status_of_refusal(exc: DeskError) -> tuple[int, ErrorCode]:
    """How the API answers a desk refusal (the console's forms answer with the same status)."""
    if isinstance(exc, DatabaseUnavailable):
        return 503, ErrorCode.DATABASE_UNAVAILABLE
    if isinstance(exc, NotFound):
        return 404, ErrorCode.NOT_FOUND
    if isinstance(exc, (InvalidTransition, DuplicateKey)):
        return 409, ErrorCode.CONFLICT
    return 400, ErrorCode.REFUSED


async def _desk_error(request: Request, exc: Exception) -> Response:
    if not _is_api(request):
        raise exc  # as before: the server's 500
    if isinstance(exc, DatabaseUnavailable):
        log.error("API %s %s: %s", request.method, request.url.path, exc)
        return error_response(status=503, code=ErrorCode.DATABASE_UNAVAILABLE,
                              message="the desk's database is unavailable; try again later")
    assert isinstance(exc, DeskError)
    status, code = status_of_refusal(exc)
    return error_response(status=status, code=code, message=str(exc))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the traceback itself after this answer; the caller learns nothing of it.
    if not _is_api(request):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return error_response(status=500, code=ErrorCode.INTERNAL_ERROR, message="something went wrong on our side")
