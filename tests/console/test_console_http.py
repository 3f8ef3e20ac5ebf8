"""The agent console over real HTTP (no browser): sign-in, the pages, the actions, and its security.

The console's router in the HTTP app as ``deskbot serve`` mounts it, on uvicorn on loopback, without the NLP
(the browser test runs it with the NLP). SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re

import httpx
from console_client import PASSWORD, csrf_of, sign_in

from bot.console import CONTENT_SECURITY_POLICY
from bot.web.auth import CSRF_COOKIE, SESSION_COOKIE
from desk import AuthorKind, Direction, Status, TicketType, UnitOfWork, people, tickets
from desk.models import Ticket

XSS = "<script>alert(1)</script>"
T0 = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def open_ticket(uow: UnitOfWork, subject: str, *, group: str = "Network", text: str | None = None,
                email: str = "ana@corp.example", ticket_type: TicketType | None = None) -> int:
    with uow() as session:
        requester = people.resolve_requester(session=session, channel="email", external_id=email,
                                             display_name="Ana Silva", email=email, email_verified=True)
        ticket = tickets.open_ticket(session=session, requester_id=requester.id, subject=subject, channel="email",
                                     actor="bot", group=group, ticket_type=ticket_type, auto_assign=False,
                                     now=T0)
        tickets.add_message(session=session, idempotency_key=f"in:{ticket.number}", ticket=ticket, channel="email",
                            direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER, text=text or subject,
                            now=T0)
        return ticket.number


def test_sign_in_sets_the_apis_session_cookie_and_sign_out_ends_it(console) -> None:  # noqa: ANN001
    with console() as client:
        assert client.get("/console/", follow_redirects=False).headers["location"].startswith("/console/signin")
        answer = sign_in(client)
        assert answer.status_code == 303 and answer.headers["location"] == "/console/"
        cookies = answer.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
        assert "HttpOnly" in session and "SameSite=lax" in session and "Secure" not in session
        assert any(c.startswith(f"{CSRF_COOKIE}=") for c in cookies)
        page = client.get("/console/")
        assert page.status_code == 200 and "alice" in page.text and "Sign out" in page.text
        assert client.get("/api/v1/me").json()["username"] == "alice"  # one session for the console and the API

        out = client.post("/console/signout", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
        assert out.status_code == 303
        client.cookies.set(SESSION_COOKIE, session.split(";")[0].split("=", 1)[1])  # the old cookie, replayed
        ended = client.get("/console/")
        assert ended.status_code == 401 and "Your session has ended" in ended.text


def test_behind_https_the_session_cookie_is_secure(console) -> None:  # noqa: ANN001
    with console(public_url="https://desk.corp.example") as client:
        form = client.get("/console/signin")
        signin_cookie = next(c for c in form.headers.get_list("set-cookie") if c.startswith("deskbot_console_signin="))
        assert "Secure" in signin_cookie
        # This client talks plain HTTP to the server behind the (absent) TLS proxy: it sends the cookie by hand.
        answer = client.post("/console/signin", headers={"Cookie": signin_cookie.split(";")[0]},
                             data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(form)})
        assert answer.status_code == 303
        session = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
        assert "Secure" in session and "HttpOnly" in session


def test_a_wrong_password_is_refused_with_the_apis_message_and_attempts_are_limited(console) -> None:  # noqa: ANN001
    with console(login_attempts_per_account_per_hour=2) as client:
        wrong = sign_in(client, password="not the password")
        assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
        assert SESSION_COOKIE not in client.cookies
        sign_in(client, password="still not it")
        limited = sign_in(client)  # the right password, past the limit
        assert limited.status_code == 429 and "Too many sign-in attempts" in limited.text
        assert limited.headers["retry-after"]


def test_sign_in_without_the_forms_token_is_refused(console) -> None:  # noqa: ANN001
    with console() as client:
        answer = client.post("/console/signin", data={"username": "alice", "password": PASSWORD})
        assert answer.status_code == 403 and SESSION_COOKIE not in client.cookies


def test_a_form_without_the_csrf_token_changes_nothing(console, uow) -> None:  # noqa: ANN001
    number = open_ticket(uow, "VPN drops")
    with console() as client:
        sign_in(client)
        page = client.get(f"/console/tickets/{number}")
        for data in ({"text": "hello"}, {"text": "hello", "csrf_token": "forged"}):
            refused = client.post(f"/console/tickets/{number}/notes", data=data)
            assert refused.status_code == 403 and "not accepted" in refused.text
        assert client.post("/console/signout", data={}).status_code == 403
        done = client.post(f"/console/tickets/{number}/notes", data={"text": "hello", "csrf_token": csrf_of(page)},
                           follow_redirects=True)
        assert done.status_code == 200  # followed the redirect to the ticket
    with uow() as session:
        notes = [m.text for m in tickets.thread(session=session, ticket=tickets.get_ticket(session=session, number=number))
                 if m.direction is Direction.NOTE]
        assert notes == ["hello"]


def test_every_console_page_has_the_content_security_policy(console, uow) -> None:  # noqa: ANN001
    number = open_ticket(uow, "VPN drops")
    with console() as client:
        pages = [client.get("/console/signin")]
        sign_in(client)
        pages += [client.get(path) for path in ("/console/", "/console/queue/rows?queue=groups",
                                                f"/console/tickets/{number}", "/console/tickets/999999",
                                                "/console/static/console.js")]
        for page in pages:
            assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, page.url
            assert page.headers["x-content-type-options"] == "nosniff"
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
        for page in pages[:4]:
            assert "<script>" not in page.text and "style=" not in page.text  # nothing inline for the policy to block


def test_a_script_in_a_subject_and_a_message_shows_as_text(console, uow) -> None:  # noqa: ANN001
    number = open_ticket(uow, XSS, text=f"hello {XSS} <img src=x onerror=alert(2)>")
    with console() as client:
        sign_in(client)
        for page in (client.get("/console/?queue=groups"), client.get("/console/queue/rows?queue=groups"),
                     client.get(f"/console/tickets/{number}")):
            assert page.status_code == 200
            assert XSS not in page.text and "<img src=x" not in page.text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_reply_shows_as_the_requester_got_it_and_what_they_wrote_shows_as_written(console, uow) -> None:  # noqa: ANN001
    number = open_ticket(uow, "Okta", text="**not bold** and [a link](https://evil.example)")
    reply = (f"Try **KB-0001**: [Reset your password](https://kb.example/KB-0001)\n\n1. Open Okta\n"
             f"2. Click {XSS}\n\n[bad](javascript:alert(3))")
    with uow() as session:
        ticket = tickets.get_ticket(session=session, number=number)
        tickets.add_message(session=session, idempotency_key=f"out:{number}", ticket=ticket, channel="email",
                            direction=Direction.OUTBOUND, author_kind=AuthorKind.BOT, text=reply, now=T0)
    with console() as client:
        sign_in(client)
        page = client.get(f"/console/tickets/{number}")
    assert page.status_code == 200
    thread = page.text[page.text.index('class="messages"'):page.text.index('id="reply-form"')]
    assert "<strong>KB-0001</strong>" in thread and 'href="https://kb.example/KB-0001"' in thread
    assert "<ol>" in thread and "<li>Open Okta</li>" in thread
    assert XSS not in thread and "&lt;script&gt;" in thread and "javascript:" not in thread
    assert "**not bold** and [a link](https://evil.example)" in thread and "https://evil.example\"" not in thread


def test_queues_filters_and_search(console, uow) -> None:  # noqa: ANN001
    vpn, printer = open_ticket(uow, "VPN drops every hour"), open_ticket(uow, "Printer jams")
    other = open_ticket(uow, "Mailbox full", group="Messaging")
    with uow() as session:
        tickets.assign(session=session, number=printer, username="alice", actor="test", now=T0)
        t = session.query(Ticket).filter_by(number=vpn).one()
        t.resolution_warn_at = t.resolution_due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with uow() as session:  # the SLA scan records the breach
        from desk import sla

        sla.scan(session=session, now=dt.datetime.now(dt.UTC))

    def numbers(page: httpx.Response) -> set[int]:
        assert page.status_code == 200, page.text
        return {int(n) for n in re.findall(r'data-number="(\d+)"', page.text)}

    with console() as client:
        sign_in(client)
        assert numbers(client.get("/console/?queue=groups")) == {vpn, printer}  # not Messaging's
        assert numbers(client.get("/console/?queue=mine")) == {printer}
        assert numbers(client.get("/console/?queue=triage")) == {vpn}
        assert numbers(client.get("/console/?queue=at-risk")) == {vpn}
        assert numbers(client.get("/console/queue/rows?queue=groups&q=jams")) == {printer}
        assert numbers(client.get("/console/?queue=groups&status=resolved")) == set()
        bad = client.get("/console/?queue=groups&status=nonsense")
        assert bad.status_code == 422 and "status" in bad.text
        assert "sla-breached" in client.get("/console/?queue=at-risk").text
        ordered = client.get("/console/?queue=groups&sort=subject&dir=asc").text
        assert ordered.index(f'data-number="{printer}"') < ordered.index(f'data-number="{vpn}"')
        assert client.get(f"/console/tickets/{other}").status_code == 404  # another group's: as if missing
        missing = client.get("/console/tickets/999999")
        assert missing.status_code == 404 and missing.text.replace(str(other), "") == missing.text
        rows = client.get("/console/queue/rows?queue=groups")
        assert "<html" not in rows.text  # a fragment, for the page's script
    with console() as client:
        assert client.get("/console/queue/rows?queue=groups").status_code == 401  # the script says: sign in again


def test_actions_from_the_console_land_in_the_audit_trail_with_the_signed_in_user(console, uow) -> None:  # noqa: ANN001
    number, problem = open_ticket(uow, "VPN drops"), open_ticket(uow, "VPN concentrator down", ticket_type=TicketType.PROBLEM)
    duplicate = open_ticket(uow, "VPN drops again")
    with console() as client:
        sign_in(client)

        def act(action: str, ticket: int = number, **data: str) -> httpx.Response:
            page = client.get(f"/console/tickets/{ticket}")
            return client.post(f"/console/tickets/{ticket}/{action}", data={"csrf_token": csrf_of(page), **data},
                               follow_redirects=True)

        assert act("assign").status_code == 200
        assert act("priority", priority="P2").status_code == 200
        assert act("intent", intent="vpn_connection").status_code == 200
        assert act("link-problem", problem=str(problem)).status_code == 200
        assert act("reply", text="Please restart the client.").status_code == 200
        assert act("status", status="pending").status_code == 200
        merged = act("merge", ticket=duplicate, into=str(number))
        assert merged.status_code == 200 and str(merged.url).endswith(f"/console/tickets/{number}")
        refused = act("status", status="new")
        assert refused.status_code == 409 and "Not done" in refused.text
        assert act("intent", intent="no_such_intent").status_code == 400
        assert act("priority", priority="P9").status_code == 422
        page = client.get(f"/console/tickets/{number}").text
        assert "user:alice" in page and "Please restart the client." in page
    with uow() as session:
        ticket = tickets.get_ticket(session=session, number=number)
        changes = {(e.field, e.new) for e in tickets.audit_trail(session=session, ticket=ticket)
                   if e.actor == "user:alice"}
        assert {("assignee", "alice"), ("confirmed_intent", "vpn_connection")} <= changes
        assert ticket.status is Status.PENDING and ticket.parent is not None and ticket.parent.number == problem
        assert tickets.get_ticket(session=session, number=duplicate).status is Status.RESOLVED
        fields = {e.field for e in tickets.audit_trail(session=session, ticket=ticket) if e.actor == "user:alice"}
        assert {"priority", "status", "parent_id", "merged"} <= fields, fields
