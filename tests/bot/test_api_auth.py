"""Sign-in, roles and API tokens over real HTTP: the app as ``deskbot serve`` builds it, on uvicorn on loopback.

SQLite and PostgreSQL. Tokens come from the real ``deskbot token`` command run against the same database.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bot.composition import Deskbot, channel_states
from bot.http import create_app
from bot.settings import Settings
from bot.web.api import ADMIN_TAG, PREFIX
from desk import Role, UnitOfWork, accounts, people

DESKBOT = str(Path(sys.executable).with_name("deskbot"))
PASSWORD = "correct horse battery"
LOGIN = f"{PREFIX}/auth/login"


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _deskbot(engine: Engine, **settings: object) -> Deskbot:
    return Deskbot(Settings(database_url=_url(engine), **settings))  # type: ignore[arg-type]


@pytest.fixture
def served(on_loopback):  # noqa: ANN001, ANN201
    """``with served(deskbot) as client:``, ``create_app`` as ``deskbot serve`` builds it, on a real server."""
    @contextmanager
    def serve(deskbot: Deskbot) -> Iterator[httpx.Client]:
        try:
            with on_loopback(create_app(deskbot=deskbot, channels=channel_states(deskbot.settings))) as client:
                yield client
        finally:
            deskbot.close()
    return serve


@pytest.fixture
def desk_users(uow: UnitOfWork) -> None:
    """alice, an agent of Service Desk and Network, and root, an admin; both with PASSWORD."""
    with uow() as session:
        people.add_user(session=session, username="alice", display_name="Alice", email="alice@corp.example",
                        groups=["Service Desk", "Network"])
        people.add_user(session=session, username="root", display_name="Root", email="root@corp.example",
                        role=Role.ADMIN)
        for username in ("alice", "root"):
            accounts.set_password(session=session, username=username, password=PASSWORD)


@pytest.fixture
def client(served, engine: Engine, desk_users: None) -> Iterator[httpx.Client]:
    with served(_deskbot(engine)) as c:
        yield c


def _token(uow: UnitOfWork, username: str) -> str:
    with uow() as session:
        return accounts.create_token(session=session, username=username, name="test", now=dt.datetime.now(dt.UTC)).secret


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _deskbot_cli(*args: str, engine: Engine, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update({"COLUMNS": "200", "DESKBOT_DATABASE_URL": _url(engine)})
    return subprocess.run([DESKBOT, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def _error(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]


# --- sign-in ----------------------------------------------------------------------------------------


def test_sign_in_sets_a_session_cookie_that_signs_in_me(client: httpx.Client) -> None:
    answer = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["principal"] == {"user_id": answer.json()["principal"]["user_id"], "username": "alice",
                                          "role": "agent", "groups": ["Network", "Service Desk"], "via": "session"}
    session_cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("deskbot_session="))
    attributes = {a.strip().lower() for a in session_cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # the public URL is http://127.0.0.1: a Secure cookie would never come back
    assert client.cookies.get("deskbot_csrf") == answer.json()["csrf_token"]
    me = client.get(f"{PREFIX}/me")
    assert me.status_code == 200 and me.json()["username"] == "alice" and me.json()["via"] == "session"


def test_cookies_are_secure_when_the_public_url_is_https(served, engine: Engine, desk_users: None) -> None:
    with served(_deskbot(engine, public_url="https://desk.corp.example")) as client:
        answer = client.post(LOGIN, json={"username": "root", "password": PASSWORD})
    assert answer.status_code == 200
    cookies = answer.headers.get_list("set-cookie")
    assert len(cookies) == 2 and all("secure" in c.lower().split("; ") for c in cookies), cookies


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(client: httpx.Client) -> None:
    wrong = client.post(LOGIN, json={"username": "alice", "password": "not the password"})
    unknown = client.post(LOGIN, json={"username": "mallory", "password": "not the password"})
    for answer in (wrong, unknown):
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert "deskbot_session" not in answer.headers.get("set-cookie", "")
    assert _error(wrong) == _error(unknown) == {"code": "not_authenticated", "message": "wrong username or password"}


def test_sign_in_limits_per_account_and_per_address_hold_across_two_app_instances(
        served, engine: Engine, desk_users: None) -> None:
    limits = {"login_attempts_per_account_per_hour": 3, "login_attempts_per_ip_per_hour": 5}
    with served(_deskbot(engine, **limits)) as one, served(_deskbot(engine, **limits)) as two:
        for client in (one, two, one):  # three wrong guesses at alice's password, spread over both processes
            assert client.post(LOGIN, json={"username": "alice", "password": "guess guess"}).status_code == 401
        for client in (two, one):  # now even the right password waits, on either process
            refused = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
            assert refused.status_code == 429 and _error(refused)["code"] == "rate_limited"
            assert 1 <= int(refused.headers["retry-after"]) <= 3600
        # the address has used 3 of its 5 (refused attempts count nothing): two more accounts, then it waits too
        assert two.post(LOGIN, json={"username": "bob", "password": "guess guess"}).status_code == 401
        assert one.post(LOGIN, json={"username": "carol", "password": "guess guess"}).status_code == 401
        refused = two.post(LOGIN, json={"username": "root", "password": PASSWORD})
        assert refused.status_code == 429 and "too many sign-in attempts" in _error(refused)["message"]


def test_a_token_from_the_cli_works_as_bearer_until_revoked(engine: Engine, client: httpx.Client,
                                                            tmp_path: Path) -> None:
    created = _deskbot_cli("token", "create", "alice", "--name", "nightly export", engine=engine, tmp_path=tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert re.fullmatch(r"dsk_[A-Za-z0-9_-]{43}", token) and "not shown again" in created.stderr
    listed = _deskbot_cli("token", "list", "alice", engine=engine, tmp_path=tmp_path).stdout
    assert token not in listed and token[:10] in listed and "nightly export" in listed
    assert re.search(r"│ 1\s+│ alice .*│ -\s+│ no", listed), listed  # never used yet

    me = client.get(f"{PREFIX}/me", headers=_bearer(token))
    assert me.status_code == 200 and me.json()["username"] == "alice" and me.json()["via"] == "token"
    listed = _deskbot_cli("token", "list", engine=engine, tmp_path=tmp_path).stdout
    assert re.search(r"│ 1\s+│ alice .*UTC\s+│ \d{4}-\d\d-\d\d \d\d:\d\d UTC\s+│ no", listed), listed  # last used

    revoked = _deskbot_cli("token", "revoke", "1", engine=engine, tmp_path=tmp_path)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    refused = client.get(f"{PREFIX}/me", headers=_bearer(token))
    assert refused.status_code == 401 and "not valid" in _error(refused)["message"]


def test_the_cli_gives_no_token_to_a_requester_and_no_short_password(engine: Engine, uow: UnitOfWork,
                                                                     desk_users: None, tmp_path: Path) -> None:
    with uow() as session:
        people.resolve_requester(session=session, channel="email", external_id="pat@corp.example",
                                 display_name="Pat", email="pat@corp.example", email_verified=True)
    refused = _deskbot_cli("token", "create", "pat@corp.example", engine=engine, tmp_path=tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == "deskbot: no agent or admin with username 'pat@corp.example'"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env["DESKBOT_DATABASE_URL"] = _url(engine)
    short = subprocess.run([DESKBOT, "user", "passwd", "alice", "--stdin"], input="eleven char\n", cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=120)
    assert short.returncode == 1 and "at least 12 characters" in short.stderr and "Traceback" not in short.stderr
    changed = subprocess.run([DESKBOT, "user", "passwd", "alice", "--stdin"], input="a new passphrase!\n",
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert changed.returncode == 0, changed.stderr
    with uow() as session:
        assert accounts.check_password(session=session, username="alice", password="a new passphrase!") is not None


def test_an_inactive_user_is_refused_with_a_session_a_token_and_a_password(
        uow: UnitOfWork, client: httpx.Client) -> None:
    assert client.post(LOGIN, json={"username": "alice", "password": PASSWORD}).status_code == 200
    token = _token(uow, "alice")
    with uow() as session:
        people.get_user(session=session, username="alice").active = False
    assert client.get(f"{PREFIX}/me").status_code == 401  # the session's cookie
    assert client.get(f"{PREFIX}/me", headers=_bearer(token)).status_code == 401
    again = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert again.status_code == 401 and _error(again)["message"] == "wrong username or password"


# --- CSRF ----------------------------------------------------------------------------------------------


def test_a_cookie_post_needs_the_csrf_header_and_a_bearer_post_does_not(uow: UnitOfWork,
                                                                        client: httpx.Client) -> None:
    csrf = client.post(LOGIN, json={"username": "alice", "password": PASSWORD}).json()["csrf_token"]
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        refused = client.post(f"{PREFIX}/auth/logout", headers=headers)
        assert refused.status_code == 403 and _error(refused)["code"] == "csrf_failed"
    assert client.get(f"{PREFIX}/me").status_code == 200  # still signed in: the forged sign-out did nothing
    assert client.post(f"{PREFIX}/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get(f"{PREFIX}/me").status_code == 401  # signed out (the session is closed in the desk)

    bearer = client.post(f"{PREFIX}/auth/logout", headers=_bearer(_token(uow, "alice")))
    assert bearer.status_code == 204


def test_a_closed_session_stays_closed_even_with_the_old_cookie(client: httpx.Client) -> None:
    answer = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    old = client.cookies.get("deskbot_session")
    client.post(f"{PREFIX}/auth/logout", headers={"X-CSRF-Token": answer.json()["csrf_token"]})
    client.cookies.clear()
    replay = client.get(f"{PREFIX}/me", headers={"Cookie": f"deskbot_session={old}"})
    assert replay.status_code == 401 and "sign in again" in _error(replay)["message"]


# --- roles ----------------------------------------------------------------------------------------------


def test_groups_are_the_agents_own_and_all_for_an_admin(uow: UnitOfWork, client: httpx.Client) -> None:
    agent = client.get(f"{PREFIX}/groups", headers=_bearer(_token(uow, "alice")))
    assert [g["name"] for g in agent.json()] == ["Network", "Service Desk"]
    admin = client.get(f"{PREFIX}/groups", headers=_bearer(_token(uow, "root")))
    assert len(admin.json()) > 2 and {"Network", "Service Desk", "Security"} <= {g["name"] for g in admin.json()}


def test_an_admin_lists_the_users_and_an_agent_may_not(uow: UnitOfWork, client: httpx.Client) -> None:
    users = client.get(f"{PREFIX}/admin/users", headers=_bearer(_token(uow, "root")))
    assert users.status_code == 200
    assert users.json()[0] == {"username": "alice", "name": "Alice", "email": "alice@corp.example", "role": "agent",
                               "groups": ["Network", "Service Desk"], "active": True}
    refused = client.get(f"{PREFIX}/admin/users", headers=_bearer(_token(uow, "alice")))
    assert refused.status_code == 403 and _error(refused) == {"code": "forbidden", "message": "this needs an admin"}


def _api_operations(client: httpx.Client) -> list[tuple[str, str, set[str]]]:
    """Every (method, path, tags) of the served app's OpenAPI spec under /api/v1, sign-in excepted."""
    spec = client.get("/openapi.json").json()
    operations = [(method.upper(), path, op) for path, item in spec["paths"].items() if path.startswith(PREFIX + "/")
                  for method, op in item.items() if method in {"get", "post", "put", "patch", "delete"}]
    for method, path, op in operations:  # the spec tells a client how to authenticate
        assert (path == LOGIN) == ("security" not in op), (method, path)
    return [(method, path, set(op.get("tags", ()))) for method, path, op in operations if path != LOGIN]


def test_every_api_route_refuses_anonymous_callers_and_agents_are_refused_every_admin_route(
        uow: UnitOfWork, client: httpx.Client) -> None:
    operations = _api_operations(client)
    assert {(m, p) for m, p, _ in operations} >= {("GET", f"{PREFIX}/me"), ("GET", f"{PREFIX}/admin/users"),
                                                  ("POST", f"{PREFIX}/auth/logout")} | {
        ("GET", f"{PREFIX}/{path}") for path in ("requesters", "requesters/{requester_id}", "kb/articles",
                                                 "kb/articles/{article_id}", "kb/search", "kpis", "kpis/daily")}
    agent, admin = _bearer(_token(uow, "alice")), _bearer(_token(uow, "root"))
    for method, path, tags in operations:
        url = re.sub(r"\{[^}]+\}", "1", path)  # any value: authorisation comes before the route's own checks
        for headers in ({}, _bearer("dsk_not-a-real-token"), {"Cookie": "deskbot_session=forged"}):
            anonymous = client.request(method, url, headers=headers)
            assert anonymous.status_code == 401, (method, path, headers, anonymous.text)
            assert _error(anonymous)["code"] == "not_authenticated"
        is_admin_route = path.startswith(f"{PREFIX}/admin/")
        assert (ADMIN_TAG in tags) == is_admin_route, f"{method} {path}: the admin tag and the /admin prefix go together"
        as_agent = client.request(method, url, headers=agent)
        if is_admin_route:
            assert as_agent.status_code == 403, (method, path, as_agent.text)
            assert client.request(method, url, headers=admin).status_code not in (401, 403), (method, path)
        else:
            assert as_agent.status_code not in (401, 403), (method, path, as_agent.text)


# --- the error shape --------------------------------------------------------------------------------------


def test_api_errors_have_one_json_shape_and_other_routes_keep_theirs(client: httpx.Client) -> None:
    invalid = client.post(LOGIN, json={"username": "alice"})
    assert invalid.status_code == 422
    assert _error(invalid) == {"code": "invalid_request", "message": "body.password: Field required"}
    not_json = client.post(LOGIN, content="username=alice", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 422 and _error(not_json)["code"] == "invalid_request"
    too_long = client.post(LOGIN, json={"username": "a" * 65, "password": PASSWORD})
    assert too_long.status_code == 422 and "body.username" in _error(too_long)["message"]
    missing = client.get(f"{PREFIX}/no-such-thing")
    assert missing.status_code == 404 and _error(missing) == {"code": "not_found",
                                                               "message": f"no such API route: GET {PREFIX}/no-such-thing"}
    wrong_method = client.get(LOGIN)
    assert wrong_method.status_code == 405 and _error(wrong_method)["code"] == "method_not_allowed"
    assert client.get("/no-such-page").json() == {"detail": "Not Found"}  # outside /api/v1: FastAPI's as before


def test_desk_refusals_and_our_own_failures_get_the_shape_too(engine: Engine) -> None:
    from fastapi import APIRouter
    from fastapi.testclient import TestClient

    from desk import DeskError, NotFound

    probe = APIRouter(prefix=PREFIX)  # a route that skips the API's router: only for its errors

    @probe.get("/probe/{what}")
    def fail(what: str) -> None:
        raise {"missing": NotFound("no ticket #42"), "refused": DeskError("closed is final"),
               "bug": RuntimeError("secret detail")}[what]

    deskbot = _deskbot(engine)
    try:
        app = create_app(deskbot=deskbot, channels=channel_states(deskbot.settings), routers=[probe])
        with TestClient(app, raise_server_exceptions=False) as test_client:
            assert _error(test_client.get(f"{PREFIX}/probe/missing")) == {"code": "not_found", "message": "no ticket #42"}
            refused = test_client.get(f"{PREFIX}/probe/refused")
            assert refused.status_code == 400 and _error(refused) == {"code": "refused", "message": "closed is final"}
            bug = test_client.get(f"{PREFIX}/probe/bug")
            assert bug.status_code == 500 and "secret" not in bug.text and _error(bug)["code"] == "internal_error"
    finally:
        deskbot.close()
