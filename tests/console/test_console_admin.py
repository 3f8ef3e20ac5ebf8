"""The console's admin pages over real HTTP: users, groups, routing rules, SLA policies, dead letters, the audit.

The HTTP app as ``deskbot serve`` mounts the console, on uvicorn on loopback; SQLite and PostgreSQL. ``root`` is
the admin, ``alice`` an agent. Each change is made through a page's form and checked on the pages, in the desk and
in the admin audit, which names ``root``.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
from console_client import PASSWORD

from bot.console import CONTENT_SECURITY_POLICY
from desk import Role, UnitOfWork, administration, people, queue, routing, sla, tickets
from desk.domain import Priority, QueueStatus

XSS = "<script>alert(1)</script>"
ADMIN = "/console/admin"
Console = Callable[[], AbstractContextManager[httpx.Client]]
PAGES = [f"{ADMIN}/{page}" for page in ("users", "users/alice", "groups", "groups/Network", "routing", "sla",
                                        "dead-letters", "audit")]


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
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', page.text, re.DOTALL)
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


def test_every_admin_page_renders_for_an_admin_and_refuses_an_agent(console: Console) -> None:
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


def test_a_form_without_the_csrf_token_changes_nothing(console: Console, uow: UnitOfWork) -> None:
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


# --- users ----------------------------------------------------------------------------------------------------


def test_an_admin_adds_a_user_and_manages_their_access_role_and_groups(console: Console, uow: UnitOfWork) -> None:
    with console() as client:
        root = Browser(client, "root")
        added = root.post(f"{ADMIN}/users", {"username": "amy", "name": "Amy Adams", "email": "Amy@Corp.example",
                                             "role": "agent", "password": "amy's first password",
                                             "groups": ["Network", "Security"]})
        assert added.status_code == 200 and added.url.path == f"{ADMIN}/users/amy", added.text
        assert "Amy Adams" in added.text and "amy@corp.example" in added.text
        listed = root.get(f"{ADMIN}/users")
        row = re.search(r'<tr>\s*<td><a href="/console/admin/users/amy">amy</a></td>(.*?)</tr>', listed.text, re.DOTALL)
        assert row and "Network, Security" in row[1] and "<td>agent</td>" in row[1] and "not known" in row[1]

        amy = Browser(client, "amy", "amy's first password")
        assert amy.signed_in.status_code == 303  # she signs in at once
        root = Browser(client, "root")
        assert "not known" not in root.get(f"{ADMIN}/users/amy").text  # her sign-in is known now

        assert root.post(f"{ADMIN}/users/amy/deactivate").status_code == 200
        assert "inactive" in root.get(f"{ADMIN}/users/amy").text
        assert Browser(client, "amy", "amy's first password").signed_in.status_code == 401
        root = Browser(client, "root")
        assert root.post(f"{ADMIN}/users/amy/reactivate").status_code == 200
        assert root.post(f"{ADMIN}/users/amy/password", {"password": "  a new long secret  "}).status_code == 200
        assert Browser(client, "amy", "amy's first password").signed_in.status_code == 401
        assert Browser(client, "amy", "  a new long secret  ").signed_in.status_code == 303  # taken as typed
        root = Browser(client, "root")
        assert root.post(f"{ADMIN}/users/amy/role", {"role": "admin"}).status_code == 200
        regrouped = root.post(f"{ADMIN}/users/amy/groups", {"form": "groups", "groups": ["Messaging"]})
        assert regrouped.status_code == 200
        nogroups = root.post(f"{ADMIN}/users/amy/groups", {"form": "groups"})  # every box unticked: no groups
        assert nogroups.status_code == 200
        history = audit_page_rows(root)
        user_page = root.get(f"{ADMIN}/users/amy").text
    with uow() as session:
        amy_now = people.get_user(session=session, username="amy")
        assert (amy_now.role, amy_now.active, amy_now.groups) == (Role.ADMIN, True, [])
    expected = [("user:root", action, "amy") for action in (
        "user.created", "user.active", "user.active", "user.password", "user.role", "user.groups", "user.groups")]
    assert audit(uow) == expected and history == expected  # the audit page shows what the desk recorded
    assert user_page.count("user:root") == len(expected)  # the user's own page lists their changes


def test_a_refused_user_form_shows_why_with_what_was_entered(console: Console, uow: UnitOfWork) -> None:
    with console() as client:
        root = Browser(client, "root")
        entered = {"username": "alice", "name": "Alice Again", "email": "alice2@corp.example", "role": "admin",
                   "password": "a long enough password", "groups": ["Security"]}
        twice = root.post(f"{ADMIN}/users", entered)
        assert twice.status_code == 400 and "already exists" in alert_of(twice)  # as the API answers it
        assert (value_of(twice, "name"), value_of(twice, "email")) == ("Alice Again", "alice2@corp.example")
        assert '<option value="admin" selected>' in twice.text
        assert re.search(r'value="Security" checked', twice.text)
        assert "a long enough password" not in twice.text  # a password is never sent back

        short = root.post(f"{ADMIN}/users", {**entered, "username": "amy", "password": "short"})
        assert short.status_code == 422 and alert_of(short).startswith("Not saved. Password:")
        assert "short" not in alert_of(short).split(":", 1)[1].split("at least")[0]
        bad_name = root.post(f"{ADMIN}/users", {**entered, "username": "amy adams"})
        assert bad_name.status_code == 422 and "Username (amy adams)" in alert_of(bad_name)
        no_group = root.post(f"{ADMIN}/users", {**entered, "username": "amy", "groups": ["Nowhere"]})
        assert no_group.status_code == 404 and "No group named 'Nowhere'" in alert_of(no_group)

        last = root.post(f"{ADMIN}/users/root/role", {"role": "agent"})
        assert last.status_code == 400 and "last active admin" in alert_of(last)
        assert '<option value="agent" selected>' in last.text  # the role chosen, kept
        unknown = root.post(f"{ADMIN}/users/alice/groups", {"form": "groups", "groups": ["Network", "Nowhere"]})
        assert unknown.status_code == 404 and "No group named 'Nowhere'" in alert_of(unknown)
        assert re.search(r'value="Nowhere"', unknown.text) is None  # only groups that exist are offered
        bad_role = root.post(f"{ADMIN}/users/alice/role", {"role": "overlord"})
        assert bad_role.status_code == 422 and "Role (overlord)" in alert_of(bad_role)
        assert root.post(f"{ADMIN}/users/nobody/deactivate").status_code == 404
    with uow() as session:
        assert [g.name for g in people.get_user(session=session, username="alice").groups] == ["Network"]
        assert people.get_user(session=session, username="root").role is Role.ADMIN
    assert audit(uow) == []


# --- groups ---------------------------------------------------------------------------------------------------


def test_an_admin_adds_a_group_and_edits_its_hours_holidays_and_notices(console: Console, uow: UnitOfWork) -> None:
    with console() as client:
        root = Browser(client, "root")
        added = root.post(f"{ADMIN}/groups", {
            "name": "Field Services", "timezone": "Europe/Paris", "working_hours": "mon-fri 08:30-12:00,13:00-17:30",
            "holidays": "2026-12-25, 2026-12-26", "slack": "C0123ABCD", "email": ""})
        assert added.status_code == 200 and "Field Services" in added.text
        page = root.get(f"{ADMIN}/groups/Field%20Services")
        assert page.status_code == 200 and "Fri 25 Dec 2026" in page.text and 'value="C0123ABCD"' in page.text
        here = f"{ADMIN}/groups/Field%20Services"
        assert root.post(f"{here}/calendar", {"timezone": "Europe/Berlin",
                                              "working_hours": "mon-thu 09:00-17:00"}).status_code == 200
        assert root.post(f"{here}/holidays", {"day": "2027-01-01"}).status_code == 200
        assert root.post(f"{here}/holidays/remove", {"day": "2026-12-26"}).status_code == 200
        notices = root.post(f"{here}/notices", {"form": "notices", "slack": "", "email": "field@corp.example"})
        assert notices.status_code == 200 and 'value="field@corp.example"' in notices.text
        history = audit_page_rows(root)
    with uow() as session:
        group = people.get_group(session=session, name="Field Services")
        assert (group.timezone, group.working_hours) == ("Europe/Berlin", "mon-thu 09:00-17:00")
        assert [h.day for h in group.holidays] == [dt.date(2026, 12, 25), dt.date(2027, 1, 1)]
        assert people.notice_targets_of(group) == {"email": "field@corp.example"}
    expected = [("user:root", action, "Field Services") for action in (
        "group.created", "group.calendar", "group.calendar", "group.calendar", "group.notices")]
    assert audit(uow) == expected and history == expected


def test_a_refused_group_form_shows_why_with_what_was_entered(console: Console, uow: UnitOfWork) -> None:
    with console() as client:
        root = Browser(client, "root")
        entered = {"name": "Field Services", "timezone": "Europe/Paris", "working_hours": "weekdays nine to five",
                   "holidays": "2026-12-25", "slack": "C0123ABCD", "email": "field@corp.example"}
        bad_hours = root.post(f"{ADMIN}/groups", entered)
        assert bad_hours.status_code == 400 and "invalid calendar" in alert_of(bad_hours)  # as the API answers it
        for name in ("name", "timezone", "working_hours", "holidays", "slack", "email"):
            assert value_of(bad_hours, name) == entered[name], name
        bad_date = root.post(f"{ADMIN}/groups", {**entered, "working_hours": "mon-fri 09:00-17:00",
                                                 "holidays": "2026-12-25, 2026-13-01"})
        assert bad_date.status_code == 422 and "Holidays (2026-13-01)" in alert_of(bad_date)
        twice = root.post(f"{ADMIN}/groups", {**entered, "name": "network", "working_hours": "mon-fri 09:00-17:00"})
        assert twice.status_code == 400 and "already exists" in alert_of(twice)

        zone = root.post(f"{ADMIN}/groups/Network/calendar", {"timezone": "Mars/Olympus",
                                                              "working_hours": "mon-fri 09:00-17:00"})
        assert zone.status_code == 400 and "Mars/Olympus" in alert_of(zone)
        assert value_of(zone, "timezone") == "Mars/Olympus"
        day = root.post(f"{ADMIN}/groups/Network/holidays", {"day": "31/12/2026"})
        assert day.status_code == 422 and "Holidays (31/12/2026)" in alert_of(day)
        assert root.post(f"{ADMIN}/groups/Nowhere/calendar", {"timezone": "UTC"}).status_code == 404
    with uow() as session:
        assert [g.name for g in people.list_groups(session=session)].count("Field Services") == 0
        network = people.get_group(session=session, name="Network")
        assert (network.timezone, network.holidays) == ("UTC", [])
    assert audit(uow) == []


# --- routing and SLA ------------------------------------------------------------------------------------------


def test_an_admin_routes_an_intent_to_another_group_and_changes_an_sla(console: Console, uow: UnitOfWork) -> None:
    with console() as client:
        root = Browser(client, "root")
        page = root.get(f"{ADMIN}/routing")
        assert 'id="rule-vpn_connection"' in page.text and 'id="rule-greeting"' not in page.text  # bot intents
        moved = root.post(f"{ADMIN}/routing/vpn_connection", {"group": "Service Desk", "ticket_type": "incident",
                                                               "urgency": "1"})
        assert moved.status_code == 200
        row = re.search(r'id="rule-vpn_connection".*?</tr>', moved.text, re.DOTALL)
        assert row and '<option value="Service Desk" selected>' in row[0] and '<option value="1" selected>' in row[0]

        unknown = root.post(f"{ADMIN}/routing/teleport", {"group": "Network"})
        assert unknown.status_code == 422 and "not in the intent taxonomy" in alert_of(unknown)
        bot_intent = root.post(f"{ADMIN}/routing/greeting", {"group": "Network"})
        assert bot_intent.status_code == 422 and "a bot intent" in alert_of(bot_intent)
        no_group = root.post(f"{ADMIN}/routing/wifi_connection", {"group": "Nowhere", "ticket_type": "incident",
                                                                   "urgency": "3"})
        assert no_group.status_code == 404 and "No group named 'Nowhere'" in alert_of(no_group)
        kept = re.search(r'id="rule-wifi_connection" class="failed".*?</tr>', no_group.text, re.DOTALL)
        assert kept and '<option value="3" selected>' in kept[0]

        changed = root.post(f"{ADMIN}/sla/P2", {"first_response_minutes": "30", "resolution_minutes": "240",
                                                "around_the_clock": "yes"})
        assert changed.status_code == 200 and 'value="240"' in changed.text
        backwards = root.post(f"{ADMIN}/sla/P3", {"first_response_minutes": "600", "resolution_minutes": "60"})
        assert backwards.status_code == 400 and "at most the resolution target" in alert_of(backwards)
        assert 'value="600"' in backwards.text
        zero = root.post(f"{ADMIN}/sla/P3", {"first_response_minutes": "0", "resolution_minutes": "60"})
        assert zero.status_code == 422 and "First response minutes (0)" in alert_of(zero)
        nine = root.post(f"{ADMIN}/sla/P9", {"first_response_minutes": "1", "resolution_minutes": "2"})
        assert nine.status_code == 404 and "no priority 'P9'" in alert_of(nine)
        history = audit_page_rows(root)
    with uow() as session:
        rule = routing.rule_for(session=session, intent="vpn_connection")
        assert rule is not None and (rule.group.name, rule.urgency) == ("Service Desk", 1)
        policy = {p.priority: p for p in sla.list_policies(session=session)}[Priority.P2]
        assert (policy.first_response_minutes, policy.resolution_minutes, policy.around_the_clock) == (30, 240, True)
    assert audit(uow) == history == [("user:root", "routing.rule", "vpn_connection"), ("user:root", "sla.policy", "P2")]


# --- dead letters ---------------------------------------------------------------------------------------------


def test_dead_letters_show_error_and_ticket_and_a_retry_puts_them_back(console: Console, uow: UnitOfWork) -> None:
    now = dt.datetime.now(dt.UTC)
    with uow() as session:
        requester = people.resolve_requester(session=session, channel="email", external_id="ana@corp.example",
                                             display_name="Ana", email="ana@corp.example", email_verified=True)
        ticket = tickets.open_ticket(session=session, requester_id=requester.id, subject="VPN", channel="email",
                                     actor="bot", group="Network", auto_assign=False, now=now)
        queue.accept_inbound(session=session, key="email:<broken@corp.example>", channel="email", payload="{}",
                             now=now, sender="ana@corp.example")
        queue.enqueue_outbound(session=session, key="reply-1", channel="email", address="ana@corp.example",
                               thread="<root@deskbot>", payload="{}", now=now, ticket_id=ticket.id)
        number = ticket.number
    with uow() as session:
        (inbound,) = queue.claim_inbound(session=session, worker="w1", limit=1, now=now)
        queue.fail_inbound(session=session, row_id=inbound.id, error="ValueError: bad <payload>", now=now,
                           max_attempts=1)
        (outbound,) = queue.claim_outbound(session=session, worker="d1", limit=1, now=now)
        queue.fail_outbound(session=session, row_id=outbound.id, error="SMTPRecipientsRefused: 550", now=now,
                            max_attempts=1)
    with console() as client:
        root = Browser(client, "root")
        page = root.get(f"{ADMIN}/dead-letters")
        assert "ValueError: bad &lt;payload&gt;" in page.text and "SMTPRecipientsRefused: 550" in page.text
        assert f'<a href="/console/tickets/{number}">#{number}</a>' in page.text
        assert f"{ADMIN}/dead-letters/inbox/{inbound.id}/retry" in page.text

        for kind, row_id in (("inbox", inbound.id), ("outbox", outbound.id)):
            retried = root.post(f"{ADMIN}/dead-letters/{kind}/{row_id}/retry")
            assert retried.status_code == 200 and f"/{kind}/{row_id}/retry" not in retried.text
            again = root.post(f"{ADMIN}/dead-letters/{kind}/{row_id}/retry")
            assert again.status_code == 404 and f"No failed {kind} message with id {row_id}" in alert_of(again)
        history = audit_page_rows(root)
    with uow() as session:
        assert session.get(type(inbound), inbound.id).status is QueueStatus.PENDING
        assert session.get(type(outbound), outbound.id).status is QueueStatus.PENDING
    assert audit(uow) == history == [("user:root", "inbox.retry", str(inbound.id)),
                                     ("user:root", "outbox.retry", str(outbound.id))]


# --- escaping -------------------------------------------------------------------------------------------------


def test_a_script_in_a_name_shows_as_text_on_every_admin_page(console: Console, uow: UnitOfWork) -> None:
    with console() as client:
        root = Browser(client, "root")
        assert root.post(f"{ADMIN}/groups", {"name": XSS, "slack": XSS}).status_code == 200
        assert root.post(f"{ADMIN}/users", {"username": "mallory", "name": XSS, "email": "mallory@corp.example",
                                            "password": "a long enough password", "groups": [XSS]}).status_code == 200
        pages = [root.get(path) for path in (f"{ADMIN}/users", f"{ADMIN}/users/mallory", f"{ADMIN}/groups",
                                             f"{ADMIN}/routing", f"{ADMIN}/audit")]
        with uow() as session:  # the group's own page, by the link the groups page gives it
            assert people.get_group(session=session, name=XSS)
        link = re.search(r'<a href="(/console/admin/groups/[^"]*alert[^"]*)">', pages[2].text)
        assert link, pages[2].text
        pages.append(root.get(html.unescape(link[1])))
        refused = root.post(f"{ADMIN}/users", {"username": "mallory", "name": XSS, "email": "m2@corp.example",
                                               "password": "a long enough password"})
        assert refused.status_code == 400
        pages.append(refused)
        for page in pages:
            assert page.status_code in (200, 400), page.url
            assert XSS not in page.text, page.url
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, page.url
