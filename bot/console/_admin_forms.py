"""What every admin page shares: the admin-only guard (an agent gets a 403 page), reading a form, and turning a
refused change into the page again with a message and the status the API would answer.

The changes themselves are ``desk.administration``'s, validated by the API's own bodies (``bot.web.admin_people``),
so a form refuses exactly what the API refuses, and every change lands in the admin audit in the admin's name.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from bot.console._pages import SECURITY_HEADERS, ConsoleRoute, Nav, console_principal, render
from bot.web.auth import Principal, require_admin
from bot.web.errors import ApiError, status_of_refusal
from desk import DeskError, UnitOfWork

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class Section(enum.StrEnum):
    """The admin pages, in their tabs' order."""

    USERS = "users"
    GROUPS = "groups"
    ROUTING = "routing"
    SLA = "sla"
    DEAD_LETTERS = "dead-letters"
    AUDIT = "audit"

    @property
    def title(self) -> str:
        return _SECTION_TITLES[self]


_SECTION_TITLES = {Section.USERS: "Users", Section.GROUPS: "Groups", Section.ROUTING: "Routing rules",
                   Section.SLA: "SLA policies", Section.DEAD_LETTERS: "Dead letters", Section.AUDIT: "Admin audit"}


class AdminNeeded(Exception):
    """A signed-in agent asked for an admin page."""

    def __init__(self, principal: Principal):
        super().__init__("this needs an admin")
        self.principal = principal


def console_admin(principal: Annotated[Principal, Depends(console_principal)]) -> Principal:
    """The dependency of every admin page: the API's rule (``require_admin``) over the console's sign-in."""
    try:
        return require_admin(principal)
    except ApiError as exc:
        raise AdminNeeded(principal) from exc


Admin = Annotated[Principal, Depends(console_admin)]


class AdminRoute(ConsoleRoute):
    """A console route that answers an agent with the console's 403 page (sign-in and CSRF as every page)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except AdminNeeded as exc:
                response = render(request, "admin_forbidden.html", principal=exc.principal, nav=Nav.QUEUES,
                                  status=403)
                response.headers.update(SECURITY_HEADERS)
                response.headers["Cache-Control"] = "no-store"
                return response

        return route


@dataclass(frozen=True)
class Posted:
    """A form's fields as sent (a field may repeat: one checkbox per group)."""

    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    async def of(cls, request: Request) -> Posted:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return cls()
        parsed = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        return cls({name: tuple(values) for name, values in parsed.items()})

    def value(self, name: str, default: str = "", *, trim: bool = True) -> str:
        """The field's last value, trimmed (a password is taken as typed)."""
        values = self.fields.get(name)
        if not values:
            return default
        return values[-1].strip() if trim else values[-1]

    def values(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, ()) if v.strip()]

    def given(self, *names: str) -> dict[str, str]:
        """The named fields that were filled in (an empty field leaves the API's default)."""
        return {name: self.value(name) for name in names if self.value(name)}


NOTHING_POSTED = Posted()
_SECRET_FIELDS = frozenset({"password"})


@dataclass(frozen=True)
class Refusal:
    """Why a change was not made, and the status the API answers for it."""

    status: int
    message: str

    @classmethod
    def invalid(cls, exc: ValidationError) -> Refusal:
        """422 naming each wrong field as its form's label does, with what was entered (never a password)."""
        problems = []
        for error in exc.errors()[:3]:
            name = str(error["loc"][0]) if error["loc"] else ""
            label = name.replace("_", " ").capitalize() or "The form"
            entered = error.get("input")
            shown = f" ({entered:.60})" if isinstance(entered, str) and entered and name not in _SECRET_FIELDS else ""
            problems.append(f"{label}{shown}: {error['msg']}")
        return cls(422, "Not saved. " + "; ".join(problems) + ".")

    @classmethod
    def of(cls, exc: DeskError) -> Refusal:
        message = str(exc)
        return cls(status_of_refusal(exc)[0], f"Not saved: {message[:1].upper()}{message[1:]}.")


def attempt(uow: UnitOfWork, change: Callable[[Session], object]) -> Refusal | None:
    """Make ``change`` in one transaction (validating the API's body inside it), or say why it was refused."""
    try:
        with uow() as session:
            change(session)
    except ValidationError as exc:
        return Refusal.invalid(exc)
    except DeskError as exc:
        return Refusal.of(exc)
    return None


def admin_page(request: Request, template: str, *, principal: Principal, section: Section,
               refusal: Refusal | None = None, entered: Posted = NOTHING_POSTED,
               **values: Any) -> HTMLResponse:
    """An admin page: the console's frame, the admin tabs, and what went wrong with the form just sent."""
    return render(request, template, principal=principal, nav=Nav.ADMIN, section=section, sections=list(Section),
                  error=refusal.message if refusal else "", entered=entered,
                  status=refusal.status if refusal else 200, **values)
