"""How a console page is made and guarded: the templates, the headers every page carries, and who is signed in.

Every console route runs ``console_principal``, the API's ``Authenticator`` with the console's own answers: no
session sends the browser to the sign-in page, an ended one shows a page saying so, a form without the session's
CSRF token is refused. A state-changing request carries the token as the form field ``csrf_token`` (a plain
HTML form cannot set the API's ``X-CSRF-Token`` header; the console's script sends the header).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from bot.web.auth import SESSION_COOKIE, Principal, authenticator_of, csrf_token
from bot.web.errors import ApiError, ErrorCode
from desk import NotFound

PREFIX = "/console"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Scripts and styles only from deskbot itself (no inline script, no inline style), no framing, forms only to us.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}


class Nav(enum.StrEnum):
    """The console's sections, in the nav's order."""

    QUEUES = "queues"
    DASHBOARD = "kpis"
    KB = "kb"
    ADMIN = "admin"  # admins only
    MODELS = "models"  # admins only


@lru_cache(maxsize=1)
def _templates():  # noqa: ANN202
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from markupsafe import Markup

    from bot.rich_text import to_html

    # Autoescape everywhere: every subject, message and name is the outside world's text.
    env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    # A reply (the bot's or an agent's) is Markdown; it shows as the requester got it, through the sanitised
    # renderer the web chat and mail use (HTML built from the parsed tree, every character of text escaped).
    env.filters["reply_html"] = lambda markdown: Markup(to_html(markdown))
    return env


def render(request: Request, template: str, *, principal: Principal | None = None, status: int = 200,
           **values: Any) -> HTMLResponse:  # noqa: ANN401 - template values are of every kind
    """``template`` with the signed-in user, the CSRF token of their session and the console's paths."""
    secret = request.cookies.get(SESSION_COOKIE)
    page = _templates().get_template(template).render(
        principal=principal, csrf=csrf_token(secret) if principal is not None and secret else "",
        csrf_field=CSRF_FIELD, base=PREFIX, **values)
    return HTMLResponse(page, status_code=status)


class SignInNeeded(Exception):
    """No session (``ended`` False) or one that has ended."""

    def __init__(self, *, ended: bool):
        super().__init__("sign in")
        self.ended = ended


class CsrfRefused(Exception):
    pass


async def form_of(request: Request) -> dict[str, str]:
    """A console form's fields (URL-encoded, the only kind it sends; a repeated field keeps its last value)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


async def console_principal(request: Request) -> Principal:
    """The dependency of every console page but sign-in: the signed-in agent or admin."""
    form_token = None
    if request.method not in _SAFE_METHODS:
        form_token = (await form_of(request)).get(CSRF_FIELD)  # Starlette keeps the body: the handler reads it again
    try:
        # In a worker thread, as the API's (synchronous) dependency runs: the desk's query must not hold the loop.
        return await run_in_threadpool(authenticator_of(request).principal, request, form_token=form_token)
    except ApiError as exc:
        if exc.code is ErrorCode.CSRF_FAILED:
            raise CsrfRefused() from exc
        raise SignInNeeded(ended=SESSION_COOKIE in request.cookies) from exc


def back_here(request: Request) -> str:
    """Where sign-in should return to: this page (a GET), else the queues."""
    if request.method == "GET" and not request.url.path.startswith(f"{PREFIX}/queue/rows"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{PREFIX}/"


def safe_next(value: str | None) -> str:
    """A return path after sign-in, only ever inside the console (never another site: no open redirect)."""
    if value and value.startswith(f"{PREFIX}/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{PREFIX}/"


class ConsoleRoute(APIRoute):
    """Every console answer carries the security headers; the console's exceptions become its pages."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handle(request)
            except SignInNeeded as exc:
                if exc.ended:
                    response = render(request, "ended.html", status=401, next=back_here(request))
                elif request.method == "GET" and not request.url.path.startswith(f"{PREFIX}/queue/rows"):
                    response = RedirectResponse(f"{PREFIX}/signin?next={quote(back_here(request))}", status_code=303)
                else:
                    response = render(request, "ended.html", status=401, next=f"{PREFIX}/")
            except CsrfRefused:
                response = render(request, "refused.html", status=403)
            except NotFound as exc:
                response = render(request, "not_found.html", status=404, message=str(exc))
            response.headers.update(SECURITY_HEADERS)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return route
