"""The API's reading routes over real HTTP: requesters, the knowledge base and the KPIs.

The app as ``deskbot serve`` builds it, on uvicorn on loopback; SQLite and PostgreSQL. The desk is filled
through the desk's own functions; everything is read back through the API as an agent (``alice``: Network,
``bob``: Messaging; Service Desk is everyone's triage queue) or an admin (``root``) with an API token.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bot.web.api import PREFIX
from desk import AuthorKind, Direction, ResolutionCode, Status, UnitOfWork, accounts, kpis, people, tickets

REQUESTERS, KB, KPIS = f"{PREFIX}/requesters", f"{PREFIX}/kb", f"{PREFIX}/kpis"
KB_URL = "http://127.0.0.1:8080/kb"  # the default public URL's article pages
DESKBOT = str(Path(sys.executable).with_name("deskbot"))


@pytest.fixture
def kb_nlp(real_analyzer):  # noqa: ANN001, ANN201
    """The packaged KB (translations, French versions) and the real model's search: these tests are about the
    knowledge base as shipped, which the plumbing NLP's five articles do not cover."""
    return real_analyzer


def as_(uow: UnitOfWork, username: str) -> dict[str, str]:
    with uow() as session:
        token = accounts.create_token(session=session, username=username, name="test", now=dt.datetime.now(dt.UTC))
    return {"Authorization": f"Bearer {token.secret}"}


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]


def ok(response: httpx.Response) -> object:
    assert response.status_code == 200, (response.request.url, response.text)
    return response.json()


# --- requesters --------------------------------------------------------------------------------------------------


def add_requester(uow: UnitOfWork, *identities: tuple[str, str, str, str | None, bool]) -> int:
    """A requester with identities (channel, external id, name, email, verified); the first creates them."""
    with uow() as session:
        ids = {people.resolve_requester(session=session, channel=channel, external_id=external_id,
                                        display_name=name, email=email, email_verified=verified).id
               for channel, external_id, name, email, verified in identities}
    assert len(ids) == 1, "the identities joined one requester"
    return ids.pop()


def open_for(uow: UnitOfWork, requester_id: int, subject: str, group: str, *, created: dt.datetime,
             assignee: str | None = None) -> int:
    with uow() as session:
        ticket = tickets.open_ticket(session=session, requester_id=requester_id, subject=subject, channel="email",
                                     actor="bot", group=group, auto_assign=False, now=created)
        if assignee:
            tickets.assign(session=session, number=ticket.number, username=assignee, actor="test", now=created)
        return ticket.number


def test_requesters_are_found_by_name_email_and_any_identity_and_paged_by_name(
        uow: UnitOfWork, client: httpx.Client) -> None:
    ana = add_requester(uow, ("email", "ana@corp.example", "Ana Lima", "ana@corp.example", True),
                        ("slack", "U0ANA", "ana.lima", "ana@corp.example", True))
    bo = add_requester(uow, ("webchat", "wc-77", "Bo", "bo@home.example", False))
    others = [add_requester(uow, ("telegram", f"tg{i}", f"{'zZ'[i % 2]}ed {i:02}", None, False)) for i in range(11)]
    alice = as_(uow, "alice")

    def found(q: str) -> list[int]:
        return [r["id"] for r in ok(client.get(REQUESTERS, params={"q": q}, headers=alice))["items"]]

    assert found("ANA LIMA") == [ana] and found("corp.example") == [ana] and found("u0an") == [ana]
    assert found("wc-77") == [bo] and found("home.example") == [bo]  # an identity's own, unverified, email
    assert found("%") == [] and found("_") == [] and found("nobody") == []
    first = ok(client.get(REQUESTERS, params={"q": "ana"}, headers=alice))["items"][0]
    assert first == {"id": ana, "name": "Ana Lima", "email": "ana@corp.example", "channels": ["email", "slack"],
                     "created": first["created"]}
    assert ok(client.get(REQUESTERS, params={"q": "bo"}, headers=alice))["items"][0]["email"] is None
    bos = ok(client.get(f"{REQUESTERS}/{bo}", headers=alice))
    assert [(i["channel"], i["external_id"], i["name"], i["email"], i["verified"]) for i in bos["identities"]] == [
        ("webchat", "wc-77", "Bo", "bo@home.example", False)]  # typed, never verified: joins nobody
    assert bos["tickets"] == [] and bos["ticket_count"] == 0

    seen, cursor, pages = [], None, 0
    while True:
        page = ok(client.get(REQUESTERS, params={"limit": 4, **({"cursor": cursor} if cursor else {})}, headers=alice))
        seen += [(r["name"], r["id"]) for r in page["items"]]
        pages, cursor = pages + 1, page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4 and sorted(i for _, i in seen) == sorted([ana, bo, *others])
    assert [name for name, _ in seen] == sorted((name for name, _ in seen), key=str.lower)  # by name, any case

    for params, where in (({"cursor": "not-ours"}, "query.cursor"), ({"limit": 0}, "query.limit"),
                          ({"limit": 201}, "query.limit"), ({"name": "ana"}, "query.name")):
        refused = client.get(REQUESTERS, params=params, headers=alice)
        assert refused.status_code == 422 and where in error_of(refused)["message"], (params, refused.text)


def test_a_requesters_history_holds_only_the_tickets_the_caller_may_see(uow: UnitOfWork,
                                                                        client: httpx.Client) -> None:
    ana = add_requester(uow, ("email", "ana@corp.example", "Ana", "ana@corp.example", True),
                        ("webchat", "wc-1", "Ana", "ana@corp.example", True))  # a code mailed and typed back
    t0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    network = open_for(uow, ana, "VPN drops", "Network", created=t0)
    triage = open_for(uow, ana, "Something odd", "Service Desk", created=t0 + dt.timedelta(hours=1))
    messaging = open_for(uow, ana, "Mailbox full", "Messaging", created=t0 + dt.timedelta(hours=2))
    mine = open_for(uow, ana, "Printer jams", "Workplace", created=t0 + dt.timedelta(hours=3), assignee="alice")

    def history(username: str) -> tuple[list[int], int]:
        detail = ok(client.get(f"{REQUESTERS}/{ana}", headers=as_(uow, username)))
        return [t["number"] for t in detail["tickets"]], detail["ticket_count"]

    assert history("alice") == ([mine, triage, network], 3)  # newest first; not Messaging's, not even counted
    assert history("bob") == ([messaging, triage], 2)
    assert history("root") == ([mine, messaging, triage, network], 4)
    detail = ok(client.get(f"{REQUESTERS}/{ana}", headers=as_(uow, "alice")))
    assert [(i["channel"], i["external_id"], i["email"], i["verified"]) for i in detail["identities"]] == [
        ("email", "ana@corp.example", "ana@corp.example", True), ("webchat", "wc-1", "ana@corp.example", True)]
    assert detail["tickets"][0]["subject"] == "Printer jams" and detail["tickets"][0]["assignee"] == "alice"
    missing = client.get(f"{REQUESTERS}/999999", headers=as_(uow, "alice"))
    assert missing.status_code == 404 and error_of(missing) == {"code": "not_found", "message": "no requester 999999"}


# --- the knowledge base ------------------------------------------------------------------------------------------


def test_kb_articles_are_listed_and_read_with_their_steps_and_public_page(
        served, engine: Engine, uow: UnitOfWork, desk_users: None, kb_nlp) -> None:  # noqa: ANN001
    articles = kb_nlp.kb.articles
    with served(engine, analyzer=kb_nlp) as client:
        alice = as_(uow, "alice")
        listed = ok(client.get(f"{KB}/articles", headers=alice))
        french = ok(client.get(f"{KB}/articles", params={"lang": "fr"}, headers=alice))
        one = ok(client.get(f"{KB}/articles/kb-0001", headers=alice))  # any case, as /kb/<id> takes it
        translated = ok(client.get(f"{KB}/articles/KB-0001-fr", headers=alice))
        missing = client.get(f"{KB}/articles/KB-9999", headers=alice)
    assert [a["id"] for a in listed] == sorted(articles) and len(listed) == len(articles) > 1
    assert all(a["url"] == f"{KB_URL}/{a['id']}" and a["title"] and a["summary"] for a in listed)
    assert french and {a["lang"] for a in french} == {"fr"} and all(a["translation_of"] for a in french)
    source = articles["KB-0001"]
    assert (one["id"], one["title"], one["lang"], one["steps"], one["url"]) == (
        source.id, source.title, "en", source.steps, f"{KB_URL}/KB-0001")
    assert one["steps"].startswith("1. ") and [s["heading"] for s in one["sections"]] == [
        s.heading for s in source.sections]
    assert one["tags"] == list(source.tags) and one["intents"] == ["password_reset"] and "KB-0001-fr" in one["translations"]
    assert translated["translation_of"] == "KB-0001" and "KB-0001" in translated["translations"]
    assert missing.status_code == 404 and "no article KB-9999" in error_of(missing)["message"]


def test_kb_search_finds_what_the_bot_would_answer_with(served, engine: Engine, uow: UnitOfWork,
                                                         desk_users: None, kb_nlp) -> None:  # noqa: ANN001
    queries = ["I forgot my password and cannot sign in", "GlobalProtect says gateway not responding",
               "mon compte est verrouillé après trop de tentatives"]
    with served(engine, analyzer=kb_nlp) as client:
        alice = as_(uow, "alice")
        for query in queries:
            bot = kb_nlp.analyze(query).kb_hits  # the hits the policy picks the intent's article from
            hits = ok(client.get(f"{KB}/search", params={"q": query}, headers=alice))
            assert [(h["id"], h["section"], h["score"]) for h in hits] == [
                (b.article_id, b.section, b.score) for b in bot] and len(bot) == 10, query
            assert all(h["url"] == f"{KB_URL}/{h['id']}" and h["snippet"] for h in hits)
            more = ok(client.get(f"{KB}/search", params={"q": query, "limit": 6}, headers=alice))
            assert [h["id"] for h in more] == [b.article_id for b in bot[:6]]
        assert ok(client.get(f"{KB}/search", params={"q": queries[2]}, headers=alice))[0]["id"].endswith("-fr")
        for params, where in (({}, "query.q"), ({"q": ""}, "query.q"), ({"q": "vpn", "limit": 21}, "query.limit")):
            refused = client.get(f"{KB}/search", params=params, headers=alice)
            assert refused.status_code == 422 and where in error_of(refused)["message"], params


def test_without_the_nlp_the_kb_routes_say_so(uow: UnitOfWork, client: httpx.Client) -> None:
    alice = as_(uow, "alice")
    for path, params in (("/articles", {}), ("/articles/KB-0001", {}), ("/search", {"q": "vpn"})):
        answer = client.get(f"{KB}{path}", params=params, headers=alice)
        assert answer.status_code == 503 and error_of(answer)["code"] == "nlp_unavailable", path


# --- KPIs --------------------------------------------------------------------------------------------------------


def at(day: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, h, mi, tzinfo=dt.UTC)


def seed_kpis(uow: UnitOfWork) -> None:
    """March 2026: one ticket before the period (Mar 2-4), six in it on three channels, one after it."""
    keys = iter(range(1_000))

    def open_(created: dt.datetime, channel: str, intent: str | None, *, writes: int = 1) -> int:
        with uow() as session:
            requester = people.resolve_requester(session=session, channel="email", external_id="ana@corp.example",
                                                 email="ana@corp.example", email_verified=True)
            ticket = tickets.open_ticket(session=session, requester_id=requester.id, subject="Help", channel=channel,
                                         actor="bot", intent=intent, auto_assign=False, now=created)
            for i in range(writes):
                tickets.add_message(session=session, idempotency_key=f"k{next(keys)}", ticket=ticket, channel=channel,
                                    direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER, text="help",
                                    now=created + dt.timedelta(minutes=i))
            return ticket.number

    def move(number: int, status: Status, when: dt.datetime, code: ResolutionCode | None = ResolutionCode.AGENT,
             csat: int | None = None) -> None:
        with uow() as session:
            tickets.change_status(session=session, number=number, status=status, actor="test", now=when,
                                  resolution_code=code if status is not Status.OPEN else None,
                                  reopen_window=dt.timedelta(days=7))
            if csat is not None:
                tickets.record_csat(session=session, number=number, score=csat, actor="requester", now=when)

    move(open_(at(1, 12), "email", "vpn_connection"), Status.RESOLVED, at(1, 13), csat=1)
    move(open_(at(2, 9), "email", "vpn_connection"), Status.RESOLVED, at(2, 11), csat=5)
    move(open_(at(2, 10), "slack", "password_reset"), Status.CLOSED, at(2, 10, 5), ResolutionCode.SELF_SERVICE)
    move(open_(at(2, 23, 59), "webchat", None, writes=0), Status.CLOSED, at(3, 23, 59),
         ResolutionCode.POTENTIAL_DEFLECTION)
    reopened = open_(at(3), "slack", "printer_problem")
    with uow() as session:
        tickets.confirm_intent(session=session, number=reopened, intent="monitor_display", actor="user:alice")
    move(reopened, Status.RESOLVED, at(3, 12))
    move(reopened, Status.OPEN, at(3, 13))
    move(reopened, Status.RESOLVED, at(4, 9), csat=2)
    open_(at(3, 15), "email", "vpn_connection")
    move(open_(at(4, 9), "email", "password_reset", writes=2), Status.RESOLVED, at(4, 9, 30), csat=4)
    open_(at(5), "slack", None)


def _cli(*args: str, engine: Engine, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update({"COLUMNS": "200", "DESKBOT_DATABASE_URL": engine.url.render_as_string(hide_password=False)})
    done = subprocess.run([DESKBOT, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _as_cli_prints(figures: dict) -> dict[str, str]:
    """What ``deskbot report kpis`` prints on each KPI's row for these API figures."""
    def ratio(r: dict) -> str:
        return "n/a" if r["value"] is None else f"{100 * r['value']:.1f} % ({r['numerator']}/{r['denominator']})"

    def hours(h: float | None) -> str:
        return "n/a" if h is None else f"{h:.1f} h"

    csat = "n/a" if figures["csat_average"] is None else f"{figures['csat_average']:.2f} / 5"
    return {"first-contact resolution": ratio(figures["first_contact_resolution"]),
            "mean time to resolve (wall clock)": hours(figures["mean_time_to_resolve_hours"]),
            "mean time to resolve (business hours)": hours(figures["mean_business_time_to_resolve_hours"]),
            "SLA compliance": ratio(figures["sla_compliance"]),
            "self-service rate (confirmed)": ratio(figures["self_service_rate"]),
            "potential deflection (unconfirmed)": ratio(figures["potential_deflection_rate"]),
            "reopen rate": ratio(figures["reopen_rate"]),
            "redirected to another department (no ticket)": str(figures["redirected"]),
            "CSAT": f"{csat}; satisfied {ratio(figures['csat_satisfied'])}"}


def test_the_kpis_of_a_period_are_the_desks_and_the_clis(uow: UnitOfWork, engine: Engine, client: httpx.Client,
                                                         tmp_path: Path) -> None:
    seed_kpis(uow)
    alice = as_(uow, "alice")  # KPIs are the whole desk's, for agents too
    got = ok(client.get(KPIS, params={"since": "2026-03-02", "until": "2026-03-05"}, headers=alice))
    with uow() as session:
        desk = kpis.compute(session=session, since=at(2), until=at(5))
        everything = kpis.compute(session=session)
    assert got["since"] == "2026-03-02" and got["until"] == "2026-03-05" and got["tickets"] == desk.tickets == 6
    assert got["resolved"] == desk.resolved == 5
    assert got["redirected"] == desk.redirected == 0  # the bot's redirects have no ticket: counted apart
    for name in ("first_contact_resolution", "sla_compliance", "self_service_rate", "potential_deflection_rate",
                 "reopen_rate", "csat_satisfied"):
        ratio = getattr(desk, name)
        assert got[name] == {"numerator": ratio.numerator, "denominator": ratio.denominator, "value": ratio.value}, name
    for name in ("mean_time_to_resolve_hours", "mean_business_time_to_resolve_hours", "csat_average"):
        assert got[name] == pytest.approx(getattr(desk, name)), name
    assert {(b["group"], b["priority"]): b["tickets"] for b in got["backlog"]} == {
        (group, priority.value): n for (group, priority), n in desk.backlog.items()}
    assert sum(b["tickets"] for b in got["backlog"]) == 2  # the one still open in the period, the one after it
    assert ok(client.get(KPIS, headers=alice))["tickets"] == everything.tickets == 8  # no period: every ticket

    printed = _cli("report", "kpis", "--since", "2026-03-02", "--until", "2026-03-05", engine=engine,
                   tmp_path=tmp_path)
    rows = {line.split("│")[1].strip(): line for line in printed.splitlines() if line.count("│") >= 3}
    assert f"KPIs over {got['tickets']} ticket(s)" in printed
    for label, value in _as_cli_prints(got).items():
        assert value in rows[label], (label, value, rows.get(label))


def test_the_daily_series_covers_every_day_and_adds_up_to_the_period(uow: UnitOfWork,
                                                                     client: httpx.Client) -> None:
    seed_kpis(uow)
    root = as_(uow, "root")
    period = {"since": "2026-02-28", "until": "2026-03-07"}
    series = ok(client.get(f"{KPIS}/daily", params=period, headers=root))
    total = ok(client.get(KPIS, params=period, headers=root))
    days = series["days"]
    assert [d["day"] for d in days] == [f"2026-{m:02}-{d:02}" for m, d in ((2, 28), *((3, i) for i in range(1, 7)))]
    assert [d["tickets"] for d in days] == [0, 1, 3, 2, 1, 1, 0]  # Mar 2 23:59 counts on the 2nd, 00:00 on the 3rd
    monday, tuesday = days[2], days[3]
    assert monday["by_channel"] == {"email": 1, "slack": 1, "webchat": 1}
    assert monday["by_intent"] == {series["no_intent"]: 1, "password_reset": 1, "vpn_connection": 1}
    assert tuesday["by_intent"] == {"monitor_display": 1, "vpn_connection": 1}  # the agent's label wins
    assert days[0]["first_contact_resolution"] == {"numerator": 0, "denominator": 0, "value": None}
    assert days[0]["mean_time_to_resolve_hours"] is None and days[0]["by_channel"] == {}

    assert sum(d["tickets"] for d in days) == total["tickets"] == 8
    for d in days:
        assert sum(d["by_channel"].values()) == sum(d["by_intent"].values()) == d["tickets"], d["day"]
    for name in ("first_contact_resolution", "sla_compliance", "self_service_rate", "potential_deflection_rate",
                 "reopen_rate", "csat_satisfied"):
        for part in ("numerator", "denominator"):
            assert sum(d[name][part] for d in days) == total[name][part], (name, part)
    assert sum(d["resolved"] for d in days) == total["resolved"] == 6
    for name in ("mean_time_to_resolve_hours", "mean_business_time_to_resolve_hours"):
        weighted = sum(d[name] * d["resolved"] for d in days if d["resolved"])
        assert weighted / total["resolved"] == pytest.approx(total[name]), name
    answers = sum(d["csat_satisfied"]["denominator"] for d in days)
    assert sum(d["csat_average"] * d["csat_satisfied"]["denominator"] for d in days if d["csat_average"]) / answers \
        == pytest.approx(total["csat_average"])


def test_bad_periods_are_refused_naming_the_parameter(uow: UnitOfWork, client: httpx.Client) -> None:
    alice = as_(uow, "alice")
    for path, params, where in (
            (KPIS, {"since": "2026-13-01"}, "query.since"),
            (KPIS, {"until": "yesterday"}, "query.until"),
            (KPIS, {"since": "2026-03-05", "until": "2026-03-05"}, "query.until: until (2026-03-05) must come after"),
            (KPIS, {"from": "2026-03-01"}, "query.from"),
            (f"{KPIS}/daily", {"until": "2026-03-05"}, "query.since: Field required"),
            (f"{KPIS}/daily", {"since": "2026-03-01"}, "query.until: Field required"),
            (f"{KPIS}/daily", {"since": "2026-03-01", "until": "2026-02-01"}, "query.until"),
            (f"{KPIS}/daily", {"since": "2020-01-01", "until": "2026-01-01"}, "query.until: a daily series covers at most")):
        refused = client.get(path, params=params, headers=alice)
        assert refused.status_code == 422, (path, params, refused.text)
        assert error_of(refused)["code"] == "invalid_request" and where in error_of(refused)["message"], (
            params, error_of(refused))
