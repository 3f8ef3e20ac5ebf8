"""The console's admin pages over real HTTP: users, groups, routing rules, SLA policies, dead letters, the audit.

The HTTP app as ``deskbot serve`` mounts the console, on uvicorn on loopback; SQLite and PostgreSQL. ``root`` is
the admin, ``alice`` an agent. Each change is made through a page's form and checked on the pages, in the desk and
in the admin audit, which names ``root``.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import Engine

from bot.composition import Deskbot, channel_states
from bot.console import CONTENT_SECURITY_POLICY, console_router
from bot.http import create_app
from bot.settings import Settings
from desk import Role, UnitOfWork, accounts, administration, people, queue, routing, sla, tickets
from desk.domain import Priority, QueueStatus

PASSWORD = "correct horse battery staple"
XSS = "<script>alert(1)</script>"
ADMIN = "/console/admin"
PAGES = [f"{ADMIN}/{page}" for page in ("users", "users/alice", "groups", "groups/Network", "routing", "sla",
                                        "dead-letters", "audit")]


@pytest.fixture
def console(on_loopback, engine: Engine, uow: UnitOfWork):  # noqa: ANN001, ANN201
    """``with console() as client:`` the HTTP app with the console on a real server; the agent alice (Network)
    and the admin root, each with ``PASSWORD``."""
    with uow() as session:
        for username, groups, role in (("alice", ["Network"], Role.AGENT), ("root", [], Role.ADMIN)):
            people.add_user(session=session, username=username, display_name=username.title(), role=role,
                            email=f"{username}@corp.example", groups=groups)
            accounts.set_password(session=session, username=username, password=PASSWORD)

    @contextmanager
    def serve() -> Iterator[httpx.Client]:
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False))  # type: ignore[call-arg]
        deskbot = Deskbot(settings)
        app = create_app(deskbot=deskbot, channels=channel_states(settings), routers=[
            console_router(uow=deskbot.uow, analyzer=lambda: None, kb_url=f"{settings.public_url}/kb")])
        try:
            with on_loopback(app) as client:
                yield client
        finally:
            deskbot.close()

    return serve


class Browser:
    """A signed-in console user: ``post`` sends a page's form with the session's CSRF token."""

    def __init__(self, client: httpx.Client, username: str, password: str = PASSWORD):
        self.client = client
        client.cookies.clear()
        form = client.get("/console/signin")
        self.signed_in = client.post("/console/signin", data={
            "username": username, "password": password, "csrf_token": _csrf_of(form.text), "next": "/console/"})
        self.csrf = _csrf_of(client.get("/console/").text) if self.signed_in.status_code == 303 else ""

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path, follow_redirects=True)

    def post(self, path: str, data: dict[str, str | list[str]] | None = None, *, csrf: bool = True) -> httpx.Response:
        """The form, and the page it leads to (a refused form is that page again, with its status)."""
        fields = {**(data or {}), **({"csrf_token": self.csrf} if csrf else {})}
        return self.client.post(path, data=fields, follow_redirects=True)


def _csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found[1]


def alert_of(page: httpx.Response) -> str:
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page.text, re.S)
    assert found, page.text
    return html.unescape(found[1])


def value_of(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<input name="{name}"[^>]* value="([^"]*)"', page.text)
    assert found, f"no input {name} in {page.text}"
    return html.unescape(found[1])


def audit(uow: UnitOfWork) -> list[tuple[str, str, str]]:
    """(actor, action, target) of the admin audit, oldest first."""
    with uow() as session:
        return [(e.actor, e.action.value, e.target) for e in reversed(administration.admin_log(session=session))]


def audit_page_rows(root: Browser) -> list[tuple[str, str, str]]:
    """(who, what, of) as the audit page shows them, oldest first."""
    page = root.get(f"{ADMIN}/audit")
    assert page.status_code == 200
    rows = re.findall(r"<tr><td><time[^>]*>[^<]*</time></td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>",
                      page.text)
    return [tuple(html.unescape(cell) for cell in row) for row in reversed(rows)]  # type: ignore[misc]


# --- who may --------------------------------------------------------------------------------------------------


def test_every_admin_page_renders_for_an_admin_and_refuses_an_agent(console) -> None:  # noqa: ANN001
    with console() as client:
        assert client.get(f"{ADMIN}/users", follow_redirects=False).headers["location"].startswith("/console/signin")
        alice = Browser(client, "alice")
        assert ">Admin</a>" not in alice.get("/console/").text
        for path in [*PAGES, f"{ADMIN}/"]:
            refused = alice.get(path)
            assert refused.status_code == 403 and "Admins only" in refused.text, path
            assert refused.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        for path, data in ((f"{ADMIN}/users", {"username": "amy"}), (f"{ADMIN}/users/alice/role", {"role": "admin"}),
                           (f"{ADMIN}/sla/P1", {"first_response_minutes": "1", "resolution_minutes": "2"})):
            assert alice.post(path, data).status_code == 403, path

        root = Browser(client, "root")
        assert f'href="{ADMIN}/users"' in root.get("/console/").text
        assert root.get(f"{ADMIN}/").url.path == f"{ADMIN}/users"
        for path in PAGES:
            page = root.get(path)
            assert page.status_code == 200, (path, page.text)
            assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert "<script>" not in page.text and "style=" not in page.text
            assert 'aria-current="page">Admin</a>' in page.text
        assert root.get(f"{ADMIN}/users/nobody").status_code == 404
        assert root.get(f"{ADMIN}/groups/Nowhere").status_code == 404


def test_a_form_without_the_csrf_token_changes_nothing(console, uow: UnitOfWork) -> None:  # noqa: ANN001
    with console() as client:
        root = Browser(client, "root")
        for path, data in ((f"{ADMIN}/users/alice/role", {"role": "admin"}),
                           (f"{ADMIN}/users/alice/deactivate", {}),
                           (f"{ADMIN}/groups/Network/calendar", {"timezone": "Europe/Paris"}),
                           (f"{ADMIN}/sla/P1", {"first_response_minutes": "1", "resolution_minutes": "2"})):
            refused = root.post(path, data, csrf=False)
            assert refused.status_code == 403 and "not accepted" in refused.text, path
            forged = root.post(path, {**data, "csrf_token": "forged"}, csrf=False)
            assert forged.status_code == 403, path
    with uow() as session:
        alice = people.get_user(session=session, username="alice")
        assert (alice.role, alice.active) == (Role.AGENT, True)
        assert people.get_group(session=session, name="Network").timezone == "UTC"
    assert audit(uow) == []
