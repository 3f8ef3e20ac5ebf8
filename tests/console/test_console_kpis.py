"""The console's dashboard (``/console/kpis``) over real HTTP: its figures are what ``deskbot report kpis`` prints
for the same period (the real CLI, in a subprocess), its charts add up to the API's daily series, and a bad
period is refused with a clear message. SQLite and PostgreSQL.

March 2026 (Mon 2 to Fri 6), the seeded groups' calendar (UTC, mon-fri 09:00-17:00): tickets resolved by the
bot, by agents, reopened, past their resolution target, with CSAT answers, on four channels and a dozen intents;
one ticket before the period (in the period before it) and one after; a redirect in it and one after it.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import httpx
from console_client import sign_in
from sqlalchemy import Engine

from bot.console._views import CHANNEL_LABELS
from bot.kpi_report import Kpi
from desk import (
    AuthorKind,
    Direction,
    Level,
    ResolutionCode,
    Status,
    UnitOfWork,
    conversations,
    kpis,
    people,
    tickets,
)

DESKBOT = str(Path(sys.executable).with_name("deskbot"))
XSS = "<script>alert(1)</script>"
PERIOD = {"since": "2026-03-02", "until": "2026-03-07"}


def at(day: int, h: int = 0, mi: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, h, mi, tzinfo=dt.UTC)


class Seed:
    def __init__(self, uow: UnitOfWork):
        self.uow = uow
        self.keys = iter(range(10_000))

    def open(self, created: dt.datetime, channel: str, intent: str | None, *, writes: int = 1,
             impact: Level = Level.LOW, group: str | None = None) -> int:
        with self.uow() as session:
            requester = people.resolve_requester(session=session, channel="email", external_id="ana@corp.example",
                                                 email="ana@corp.example", email_verified=True)
            ticket = tickets.open_ticket(session=session, requester_id=requester.id, subject="Help", channel=channel,
                                         actor="bot", intent=intent, impact=impact, group=group, auto_assign=False,
                                         now=created)
            for i in range(writes):
                tickets.add_message(session=session, idempotency_key=f"k{next(self.keys)}", ticket=ticket,
                                    channel=channel, direction=Direction.INBOUND, author_kind=AuthorKind.REQUESTER,
                                    text="help", now=created + dt.timedelta(minutes=i))
            return ticket.number

    def move(self, number: int, status: Status, when: dt.datetime, code: ResolutionCode = ResolutionCode.AGENT,
             csat: int | None = None) -> None:
        with self.uow() as session:
            tickets.change_status(session=session, number=number, status=status, actor="test", now=when,
                                  resolution_code=code if status is not Status.OPEN else None,
                                  reopen_window=dt.timedelta(days=7))
            if csat is not None:
                tickets.record_csat(session=session, number=number, score=csat, actor="requester", now=when)

    def redirect(self, when: dt.datetime) -> None:
        with self.uow() as session:
            requester = people.resolve_requester(session=session, channel="webchat", external_id="ben",
                                                 email="ben@corp.example", email_verified=True)
            conversation = conversations.get_or_create(session=session, channel="webchat", address="webchat:ben",
                                                       thread=f"t{next(self.keys)}", requester_id=requester.id)
            conversations.record_redirect(session=session, conversation=conversation, key=f"r{next(self.keys)}",
                                          department="Payroll", now=when)


def seed_march(uow: UnitOfWork) -> None:
    s = Seed(uow)
    s.move(s.open(at(1, 12), "email", "vpn_connection"), Status.RESOLVED, at(1, 13), csat=5)  # the period before
    s.move(s.open(at(2, 9), "email", "vpn_connection"), Status.RESOLVED, at(2, 11), csat=5)
    s.move(s.open(at(2, 10), "slack", "password_reset"), Status.CLOSED, at(2, 10, 5), ResolutionCode.SELF_SERVICE)
    s.move(s.open(at(2, 23, 30), "webchat", None, writes=0), Status.CLOSED, at(3, 23, 30),
           ResolutionCode.POTENTIAL_DEFLECTION)
    reopened = s.open(at(3, 9), "slack", "printer_problem", impact=Level.HIGH)  # P2: 8 business hours
    s.move(reopened, Status.RESOLVED, at(3, 12))
    s.move(reopened, Status.OPEN, at(3, 13))
    s.move(reopened, Status.RESOLVED, at(4, 16), csat=2)  # past Mar 3 17:00: breached
    with uow() as session:
        tickets.confirm_intent(session=session, number=reopened, intent="monitor_display", actor="user:alice")
    s.open(at(3, 15), "email", "vpn_connection")  # still open: backlog
    s.redirect(at(3, 16))
    s.move(s.open(at(4, 9), "email", "password_reset", writes=2), Status.RESOLVED, at(4, 9, 30), csat=4)
    s.move(s.open(at(5, 10), "telegram", "mfa_setup", impact=Level.HIGH), Status.RESOLVED, at(6, 15), csat=3)
    s.open(at(5, 11), "email", "network_outage", group="Network")
    for hour, intent in enumerate(("wifi_connection", "mailbox_full", "calendar_sharing", "laptop_slow",
                                   "software_install", "email_on_phone", "wifi_connection")):
        number = s.open(at(6, 9 + hour), "webchat" if hour % 2 else "email", intent)
        if hour % 3 == 0:
            s.move(number, Status.CLOSED, at(6, 9 + hour, 20), ResolutionCode.SELF_SERVICE)
    s.open(at(9, 10), "slack", "vpn_connection")  # after the period
    s.redirect(at(20))


# --- reading the page and the CLI -----------------------------------------------------------------------------


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def kpi_table(page: str) -> dict[str, dict[str, str]]:
    """The dashboard's KPI rows by label: value, target, the period before's value, standing."""
    rows = re.findall(r'<tr data-kpi="[^"]+" class="kpi-(\w+)">\s*<th scope="row">(.*?)</th>\s*'
                      r'<td class="value">(.*?)</td>\s*<td class="target">(.*?)</td>\s*<td class="earlier">(.*?)</td>',
                      page, re.DOTALL)
    return {text_of(label): {"value": text_of(value), "target": text_of(target), "earlier": text_of(earlier),
                             "standing": standing} for standing, label, value, target, earlier in rows}


def backlog_table(page: str) -> dict[tuple[str, str], int]:
    found = {}
    for group, cells in re.findall(r'<tr data-group="([^"]*)">(.*?)</tr>', page, re.DOTALL):
        for priority, n in re.findall(r'<td data-priority="(P\d)">(\d*)</td>', cells):
            if n:
                found[(html.unescape(group), priority)] = int(n)
    return found


def cli_report(engine: Engine, tmp_path: Path, since: str, until: str) -> tuple[str, dict[str, tuple[str, str]],
                                                                                dict[tuple[str, str], int]]:
    """``deskbot report kpis``' output, its KPI rows (label: value, target) and its backlog."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    env.update({"COLUMNS": "200", "DESKBOT_DATABASE_URL": engine.url.render_as_string(hide_password=False)})
    done = subprocess.run([DESKBOT, "report", "kpis", "--since", since, "--until", until], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    kpi_part, _, backlog_part = done.stdout.partition("backlog")
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in kpi_part.splitlines() if line.count("│") == 4]
    rows = {c[0]: (c[1], c[2]) for c in cells if c[0] != "KPI"}
    backlog = {(c[0], c[1]): int(c[2]) for c in ([c.strip() for c in line.split("│")[1:-1]]
                                                 for line in backlog_part.splitlines() if line.count("│") == 4)
               if c[0] != "group"}
    return done.stdout, rows, backlog


def chart_bars(svg: str) -> dict[str, dict[str, int]]:
    """A bar chart's values: series -> day -> count."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for attrs in re.findall(r"<rect ([^>]*class=\"bar\"[^>]*)>", svg):
        a = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        found[html.unescape(a["data-series"])][a["data-day"]] = int(a["data-value"])
    return found


def charts_of(page: str) -> list[str]:
    return re.findall(r"<svg .*?</svg>", page, re.DOTALL)


def dashboard(client: httpx.Client, **period: str) -> httpx.Response:
    return client.get("/console/kpis", params=period)


# --- the tests --------------------------------------------------------------------------------------------------


def test_the_dashboard_shows_what_the_cli_prints_and_its_charts_add_up_to_the_daily_series(
        console, uow: UnitOfWork, engine: Engine, tmp_path: Path) -> None:
    seed_march(uow)
    with console() as client:
        sign_in(client)  # alice, an agent: the KPIs are the whole desk's
        page = dashboard(client, **PERIOD)
        assert page.status_code == 200, page.text
        series = client.get("/api/v1/kpis/daily", params=PERIOD).json()["days"]
    shown = kpi_table(page.text)

    printed, rows, backlog = cli_report(engine, tmp_path, PERIOD["since"], PERIOD["until"])
    tickets_shown = re.search(r'data-kpi="tickets">(\d+)<', page.text)
    assert tickets_shown and f"KPIs over {tickets_shown[1]} ticket(s)" in printed
    assert list(shown) == list(rows) and len(rows) == len(Kpi)  # exactly the CLI's KPIs, in its order
    for label, (value, target) in rows.items():
        assert (shown[label]["value"], shown[label]["target"]) == (value, target), label
    assert backlog_table(page.text) == backlog and backlog

    with uow() as session:  # the period before, as long: Feb 25 to Mar 2
        assert kpis.compute(session=session, since=at(2) - dt.timedelta(days=5), until=at(2)).tickets == 1
    _, before, _ = cli_report(engine, tmp_path, "2026-02-25", "2026-03-02")
    assert {label: row["earlier"] for label, row in shown.items()} == {label: v for label, (v, _) in before.items()}
    # Two tickets resolved after their target, one reopened: off target, shown so; the apart ones have no target.
    assert shown["SLA compliance"]["standing"] == shown["reopen rate"]["standing"] == "missed"
    assert shown["potential deflection (unconfirmed)"]["standing"] == "unknown"
    assert shown["redirected to another department (no ticket)"]["value"] == "1"

    by_channel, by_intent, self_service = charts_of(page.text)
    days = {d["day"]: d for d in series}
    channel_bars = chart_bars(by_channel)
    for day, d in days.items():
        assert {name: v[day] for name, v in channel_bars.items() if day in v} == {
            CHANNEL_LABELS.get(c, c): n for c, n in d["by_channel"].items()}, day
    assert sum(sum(v.values()) for v in channel_bars.values()) == sum(d["tickets"] for d in series)

    intent_bars = chart_bars(by_intent)
    assert "other" in intent_bars and len(intent_bars) == 9  # the top 8 intents and the rest
    for day, d in days.items():
        assert sum(v.get(day, 0) for v in intent_bars.values()) == d["tickets"], day
        for name, n in d["by_intent"].items():
            if name in intent_bars:
                assert intent_bars[name].get(day, 0) == n, (day, name)

    lines = {html.unescape(chunk.split('"')[1]): chunk for chunk in self_service.split('<g class="rate" data-series=')[1:]}
    for name, rate in (("self-service (confirmed)", "self_service_rate"),
                       ("potential deflection (unconfirmed)", "potential_deflection_rate")):
        points = {day: (int(n), int(of)) for day, n, of in re.findall(
            r'data-day="([\d-]+)" data-numerator="(\d+)" data-denominator="(\d+)"', lines[name])}
        assert points == {day: (d[rate]["numerator"], d[rate]["denominator"]) for day, d in days.items()
                          if d["tickets"]}, name


def test_a_bad_period_is_refused_with_a_clear_message_and_an_empty_one_says_no_tickets(console, uow) -> None:
    seed_march(uow)
    with console() as client:
        sign_in(client, "root")
        backwards = dashboard(client, since="2026-03-07", until="2026-03-02")
        assert backwards.status_code == 422
        assert "until (2026-03-02) must come after since (2026-03-07)" in text_of(backwards.text)
        too_long = dashboard(client, since="2020-01-01", until="2026-01-01")
        assert too_long.status_code == 422 and f"at most {kpis.MAX_DAYS} days" in text_of(too_long.text)
        not_a_day = dashboard(client, since="2026-02-30", until="2026-03-02")
        assert not_a_day.status_code == 422 and "since" in text_of(not_a_day.text)
        for refused in (backwards, too_long, not_a_day):
            assert "<svg" not in refused.text and 'class="error"' in refused.text

        quiet = dashboard(client, since="2026-02-10", until="2026-02-20")
        assert quiet.status_code == 200 and "No tickets were created in this period" in quiet.text
        assert "<svg" not in quiet.text and kpi_table(quiet.text)["SLA compliance"]["value"] == "n/a"

        default = dashboard(client)  # the last 30 days up to today
        today = dt.datetime.now(dt.UTC).date()
        assert default.status_code == 200
        assert f'value="{today + dt.timedelta(days=1)}"' in default.text
        assert f'value="{today - dt.timedelta(days=29)}"' in default.text
        assert 'aria-current="page">last 30 days' in default.text


def test_names_on_the_dashboard_show_as_text_and_it_needs_a_signed_in_user(console, uow) -> None:
    with uow() as session:
        people.add_group(session=session, name=XSS)
    s = Seed(uow)
    s.open(at(3, 10), XSS, XSS, group=XSS)
    with console() as client:
        assert client.get("/console/kpis", follow_redirects=False).headers["location"].startswith("/console/signin")
        sign_in(client)
        page = dashboard(client, **PERIOD)
    assert page.status_code == 200 and XSS not in page.text and html.escape(XSS) in page.text
    assert {group for group, _ in backlog_table(page.text)} == {XSS}
    by_channel, by_intent, _ = charts_of(page.text)
    assert chart_bars(by_channel) == {XSS: {"2026-03-03": 1}} and chart_bars(by_intent) == {XSS: {"2026-03-03": 1}}
    assert 'aria-current="page">Dashboard' in page.text
