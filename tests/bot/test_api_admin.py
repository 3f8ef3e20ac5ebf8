"""The admin API over real HTTP: users, groups, routing rules, SLA policies, dead letters and the admin audit.

SQLite and PostgreSQL; the app as ``deskbot serve`` builds it, on uvicorn on loopback. ``root`` is the admin,
``alice`` an agent; every change is checked through the API and in the admin audit, which names ``root``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from bot.composition import Deskbot, channel_states
from bot.http import create_app
from bot.settings import Settings
from bot.web.api import PREFIX
from desk import Role, UnitOfWork, accounts, people, queue

ADMIN = f"{PREFIX}/admin"
LOGIN = f"{PREFIX}/auth/login"
PASSWORD = "correct horse battery"


@pytest.fixture
def client(on_loopback, engine: Engine, uow: UnitOfWork) -> Iterator[httpx.Client]:  # noqa: ANN001
    with uow() as session:
        people.add_user(session=session, username="alice", display_name="Alice", email="alice@corp.example",
                        groups=["Network"])
        people.add_user(session=session, username="root", display_name="Root", email="root@corp.example",
                        role=Role.ADMIN)
        accounts.set_password(session=session, username="alice", password=PASSWORD)
    deskbot = Deskbot(Settings(database_url=engine.url.render_as_string(hide_password=False)))  # type: ignore[call-arg]
    try:
        with on_loopback(create_app(deskbot=deskbot, channels=channel_states(deskbot.settings))) as c:
            yield c
    finally:
        deskbot.close()


@pytest.fixture
def root(uow: UnitOfWork) -> dict[str, str]:
    return bearer(uow, "root")


def bearer(uow: UnitOfWork, username: str) -> dict[str, str]:
    with uow() as session:
        token = accounts.create_token(session=session, username=username, name="test", now=dt.datetime.now(dt.UTC))
    return {"Authorization": f"Bearer {token.secret}"}


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]


def audit(client: httpx.Client, headers: dict[str, str]) -> list[tuple[str, str, str, str | None, str | None]]:
    """(actor, action, target, old, new), oldest first."""
    entries = client.get(f"{ADMIN}/audit", headers=headers).json()
    return [(e["actor"], e["action"], e["target"], e["old"], e["new"]) for e in reversed(entries)]


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    client.cookies.clear()
    return client.post(LOGIN, json={"username": username, "password": password})


# --- users ----------------------------------------------------------------------------------------------------


def test_an_admin_creates_a_user_who_then_signs_in(client: httpx.Client, root: dict[str, str]) -> None:
    body = {"username": "amy", "name": "Amy Adams", "email": "Amy@Corp.example", "role": "agent",
            "groups": ["Identity & Access", "Service Desk"], "password": "a long enough secret"}
    created = client.post(f"{ADMIN}/users", json=body, headers=root)
    assert created.status_code == 201, created.text
    assert created.json() == {"username": "amy", "name": "Amy Adams", "email": "amy@corp.example", "role": "agent",
                              "groups": ["Identity & Access", "Service Desk"], "active": True}
    signed_in = sign_in(client, "amy", "a long enough secret")
    assert signed_in.status_code == 200 and signed_in.json()["principal"]["groups"] == ["Identity & Access",
                                                                                        "Service Desk"]
    client.cookies.clear()

    twice = client.post(f"{ADMIN}/users", json=body, headers=root)
    assert twice.status_code == 400 and "already exists" in error_of(twice)["message"]
    short = client.post(f"{ADMIN}/users", json={**body, "username": "bo", "password": "short"}, headers=root)
    assert short.status_code == 422 and error_of(short)["message"].startswith("body.password:")
    no_group = client.post(f"{ADMIN}/users", json={**body, "username": "bo", "email": "bo@corp.example",
                                                     "groups": ["Nowhere"]}, headers=root)
    assert no_group.status_code == 404 and "no group named 'Nowhere'" in error_of(no_group)["message"]
    assert [u["username"] for u in client.get(f"{ADMIN}/users", headers=root).json()] == ["alice", "amy", "root"]
    assert audit(client, root) == [("user:root", "user.created", "amy",
                                    None, "agent; amy@corp.example; groups: Identity & Access, Service Desk")]


def test_a_deactivated_users_token_and_password_are_refused_until_reactivated(
        uow: UnitOfWork, client: httpx.Client, root: dict[str, str]) -> None:
    alice = bearer(uow, "alice")
    assert client.get(f"{PREFIX}/me", headers=alice).status_code == 200
    answer = client.post(f"{ADMIN}/users/alice/deactivate", headers=root)
    assert answer.status_code == 200 and answer.json()["active"] is False
    refused = client.get(f"{PREFIX}/me", headers=alice)
    assert refused.status_code == 401 and "inactive" in error_of(refused)["message"]
    assert sign_in(client, "alice", PASSWORD).status_code == 401

    assert client.post(f"{ADMIN}/users/alice/reactivate", headers=root).json()["active"] is True
    assert client.get(f"{PREFIX}/me", headers=alice).status_code == 200
    assert sign_in(client, "alice", PASSWORD).status_code == 200
    client.cookies.clear()
    assert audit(client, root) == [("user:root", "user.active", "alice", "true", "false"),
                                   ("user:root", "user.active", "alice", "false", "true")]


def test_password_role_and_groups_and_the_last_admin_stays(
        uow: UnitOfWork, client: httpx.Client, root: dict[str, str]) -> None:
    reset = client.post(f"{ADMIN}/users/alice/password", json={"password": "another long secret"}, headers=root)
    assert reset.status_code == 204
    assert sign_in(client, "alice", PASSWORD).status_code == 401
    assert sign_in(client, "alice", "another long secret").status_code == 200
    client.cookies.clear()

    grouped = client.post(f"{ADMIN}/users/alice/groups", json={"groups": ["Security", "Network"]}, headers=root)
    assert grouped.status_code == 200 and grouped.json()["groups"] == ["Network", "Security"]
    alice = bearer(uow, "alice")
    assert client.get(f"{ADMIN}/users", headers=alice).status_code == 403
    promoted = client.post(f"{ADMIN}/users/alice/role", json={"role": "admin"}, headers=root)
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert client.get(f"{ADMIN}/users", headers=alice).status_code == 200  # the role counts from the next request

    assert client.post(f"{ADMIN}/users/root/role", json={"role": "agent"}, headers=root).status_code == 200
    last = client.post(f"{ADMIN}/users/alice/deactivate", headers=alice)
    assert last.status_code == 400 and "last active admin" in error_of(last)["message"]
    unknown = client.post(f"{ADMIN}/users/nobody/role", json={"role": "agent"}, headers=alice)
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"
    assert audit(client, alice) == [
        ("user:root", "user.password", "alice", None, "reset"),
        ("user:root", "user.groups", "alice", "Network", "Network, Security"),
        ("user:root", "user.role", "alice", "agent", "admin"),
        ("user:root", "user.role", "root", "admin", "agent")]


# --- groups, routing, SLAs ------------------------------------------------------------------------------------


def test_groups_with_their_calendars_and_notice_targets(client: httpx.Client, root: dict[str, str]) -> None:
    new = {"name": "Field Services", "timezone": "Europe/Paris", "working_hours": "mon-fri 08:30-12:00,13:00-17:30",
           "holidays": ["2026-12-25"], "notice_targets": {"slack": "C0FIELD", "email": "field@corp.example"}}
    created = client.post(f"{ADMIN}/groups", json=new, headers=root)
    assert created.status_code == 201, created.text
    assert created.json() == {**new, "notice_targets": {"email": "field@corp.example", "slack": "C0FIELD"},
                              "members": []}
    changed = client.patch(f"{ADMIN}/groups/field services", headers=root,
                           json={"working_hours": "mon-thu 08:00-16:00", "holidays": ["2026-12-24", "2026-12-25"],
                                 "notice_targets": {"slack": None}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "Europe/Paris" and changed.json()["working_hours"] == "mon-thu 08:00-16:00"
    assert changed.json()["holidays"] == ["2026-12-24", "2026-12-25"]
    assert changed.json()["notice_targets"] == {"email": "field@corp.example"}

    bad_zone = client.patch(f"{ADMIN}/groups/Field Services", json={"timezone": "Mars/Olympus"}, headers=root)
    assert bad_zone.status_code == 400 and "Mars/Olympus" in error_of(bad_zone)["message"]
    bad_hours = client.post(f"{ADMIN}/groups", json={"name": "Night", "working_hours": "whenever"}, headers=root)
    assert bad_hours.status_code == 400 and error_of(bad_hours)["code"] == "refused"
    unknown_field = client.patch(f"{ADMIN}/groups/Field Services", json={"colour": "red"}, headers=root)
    assert unknown_field.status_code == 422 and "body.colour" in error_of(unknown_field)["message"]
    listed = {g["name"]: g for g in client.get(f"{ADMIN}/groups", headers=root).json()}
    assert listed["Field Services"] == changed.json() and listed["Network"]["members"] == ["alice"]
    assert "Night" not in listed

    assert [entry[1:3] for entry in audit(client, root)] == [
        ("group.created", "Field Services"), ("group.calendar", "Field Services"), ("group.notices", "Field Services")]
    assert audit(client, root)[1][3:] == (
        "Europe/Paris; mon-fri 08:30-12:00,13:00-17:30; holidays: 2026-12-25",
        "Europe/Paris; mon-thu 08:00-16:00; holidays: 2026-12-24, 2026-12-25")


def test_routing_rules_take_only_the_taxonomys_intents(client: httpx.Client, root: dict[str, str]) -> None:
    rules = {r["intent"]: r for r in client.get(f"{ADMIN}/routing", headers=root).json()}
    assert rules["vpn_connection"]["group"] == "Network"  # seeded from the taxonomy
    moved = client.put(f"{ADMIN}/routing/vpn_connection", headers=root,
                       json={"group": "Service Desk", "ticket_type": "incident", "urgency": 1})
    assert moved.status_code == 200, moved.text
    assert moved.json() == {"intent": "vpn_connection", "group": "Service Desk", "ticket_type": "incident",
                            "urgency": 1}
    assert {r["intent"]: r for r in client.get(f"{ADMIN}/routing", headers=root).json()}["vpn_connection"] == moved.json()

    unknown = client.put(f"{ADMIN}/routing/coffee_machine", json={"group": "Workplace"}, headers=root)
    assert unknown.status_code == 422 and error_of(unknown)["code"] == "invalid_request"
    assert error_of(unknown)["message"].startswith("path.intent: 'coffee_machine' is not in the intent taxonomy")
    assert "vpn_connection" in error_of(unknown)["message"]  # it says which intents there are
    bot_intent = client.put(f"{ADMIN}/routing/greeting", json={"group": "Workplace"}, headers=root)
    assert bot_intent.status_code == 422 and "a bot intent" in error_of(bot_intent)["message"]
    no_group = client.put(f"{ADMIN}/routing/vpn_connection", json={"group": "Nowhere"}, headers=root)
    assert no_group.status_code == 404
    bad_urgency = client.put(f"{ADMIN}/routing/vpn_connection", json={"group": "Network", "urgency": 7}, headers=root)
    assert bad_urgency.status_code == 422 and "body.urgency" in error_of(bad_urgency)["message"]
    assert audit(client, root) == [("user:root", "routing.rule", "vpn_connection", "Network; incident; urgency medium",
                                    "Service Desk; incident; urgency high")]


def test_sla_policies_per_priority(client: httpx.Client, root: dict[str, str]) -> None:
    before = {p["priority"]: p for p in client.get(f"{ADMIN}/sla", headers=root).json()}
    assert list(before) == ["P1", "P2", "P3", "P4"] and before["P1"]["around_the_clock"] is True
    changed = client.put(f"{ADMIN}/sla/P2", headers=root,
                         json={"first_response_minutes": 30, "resolution_minutes": 240, "around_the_clock": True})
    assert changed.status_code == 200 and changed.json() == {"priority": "P2", "first_response_minutes": 30,
                                                             "resolution_minutes": 240, "around_the_clock": True}
    assert client.put(f"{ADMIN}/sla/P9", json={"first_response_minutes": 1, "resolution_minutes": 2},
                      headers=root).status_code == 422
    backwards = client.put(f"{ADMIN}/sla/P3", json={"first_response_minutes": 600, "resolution_minutes": 60},
                           headers=root)
    assert backwards.status_code == 400 and "at most the resolution target" in error_of(backwards)["message"]
    assert audit(client, root) == [(
        "user:root", "sla.policy", "P2", "first response 60 min; resolution 480 min; business hours",
        "first response 30 min; resolution 240 min; around the clock")]


# --- dead letters ---------------------------------------------------------------------------------------------


def test_dead_letters_are_listed_with_their_errors_and_a_retry_puts_them_back_to_pending(
        uow: UnitOfWork, client: httpx.Client, root: dict[str, str]) -> None:
    now = dt.datetime.now(dt.UTC)
    with uow() as session:
        queue.accept_inbound(session=session, key="email:<broken@corp.example>", channel="email", payload="{}",
                             now=now, sender="ana@corp.example")
        queue.enqueue_outbound(session=session, key="reply-1", channel="email", address="ana@corp.example",
                               thread="<root@deskbot>", payload="{}", now=now)
    with uow() as session:
        (inbound,) = queue.claim_inbound(session=session, worker="w1", limit=1, now=now)
        queue.fail_inbound(session=session, row_id=inbound.id, error="ValueError: bad payload", now=now,
                           max_attempts=1)
        (outbound,) = queue.claim_outbound(session=session, worker="d1", limit=1, now=now)
        queue.fail_outbound(session=session, row_id=outbound.id, error="SMTPRecipientsRefused: 550", now=now,
                            max_attempts=1)

    (letter,) = client.get(f"{ADMIN}/dead-letters/inbox", headers=root).json()
    assert {k: letter[k] for k in ("id", "channel", "sender", "status", "attempts", "error")} == {
        "id": inbound.id, "channel": "email", "sender": "ana@corp.example", "status": "failed", "attempts": 1,
        "error": "ValueError: bad payload"}
    (reply,) = client.get(f"{ADMIN}/dead-letters/outbox", headers=root).json()
    assert (reply["id"], reply["address"], reply["attempts"], reply["error"]) == (
        outbound.id, "ana@corp.example", 1, "SMTPRecipientsRefused: 550")

    for kind, row_id in (("inbox", inbound.id), ("outbox", outbound.id)):
        retried = client.post(f"{ADMIN}/dead-letters/{kind}/{row_id}/retry", headers=root)
        assert retried.status_code == 200 and retried.json()["status"] == "pending"
        assert retried.json()["attempts"] == 0
        assert client.get(f"{ADMIN}/dead-letters/{kind}", headers=root).json() == []
        again = client.post(f"{ADMIN}/dead-letters/{kind}/{row_id}/retry", headers=root)
        assert again.status_code == 404 and f"no failed {kind} message with id {row_id}" in error_of(again)["message"]
    with uow() as session:  # the worker and the dispatcher take them again
        later = dt.datetime.now(dt.UTC)
        assert [r.id for r in queue.claim_inbound(session=session, worker="w2", limit=5, now=later)] == [inbound.id]
        assert [r.id for r in queue.claim_outbound(session=session, worker="d2", limit=5, now=later)] == [outbound.id]
    assert [entry[:3] for entry in audit(client, root)] == [("user:root", "inbox.retry", str(inbound.id)),
                                                            ("user:root", "outbox.retry", str(outbound.id))]
