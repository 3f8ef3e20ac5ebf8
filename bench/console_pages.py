"""Console pages benchmark: p50/p95/max of each console page over real HTTP, on a seeded desk, against 1 s.

    .venv/bin/python bench/console_pages.py [--tickets 1000] [--messages 5000] [--requests 30]

Seeds a migrated SQLite desk in a scratch folder with ``--tickets`` tickets (groups, priorities, channels, SLA
states, messages and audit as ``bench/api_tickets.py`` seeds them), the KB seed (``kb_articles/``) with some
feedback and gaps. The HTTP app with the console and /kb, as ``deskbot serve`` mounts them (without the NLP),
runs on uvicorn on loopback in a process of its own; one client signs in through the console's form (an agent of
the Network group, and an admin) and asks for each page ``--requests`` times, one request at a time. A page that
answers 404 is not in this build (the KPIs and admin pages arrive with their own branches): it is listed as
skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_tickets import seed, served_app  # the ticket API benchmark's seeding and server, beside this file

from desk import UnitOfWork, accounts, knowledge, make_engine, migrate, session_factory
from desk.domain import Feedback
from desk.models import Group, Ticket

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a long enough bench password"
AGENT, ADMIN = "network0", "bench-admin"  # an agent of the Network group (the seed assigns it tickets), an admin
TARGET_MS = 1000.0


@dataclass
class Timing:
    page: str
    path: str
    who: str
    millis: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: str = ""

    def percentile(self, p: int) -> float:
        if len(self.millis) < 2:
            return self.millis[0] if self.millis else float("nan")
        return statistics.quantiles(self.millis, n=100, method="inclusive")[p - 1]


def seed_desk(url: str, *, tickets: int, messages: int) -> list[int]:
    """The seeded desk; the numbers of the Network group's tickets (what the agent may open)."""
    from bot.knowledge import import_folder

    rng = random.Random(13)
    engine = make_engine(url)
    migrate.upgrade(engine)
    seed(engine, tickets=tickets, messages=messages, rng=rng)
    uow = UnitOfWork(session_factory(engine))
    report = import_folder(uow=uow, folder=ROOT / "kb_articles")
    now = dt.datetime.now(dt.UTC)
    with uow() as session:
        for username in (AGENT, ADMIN):
            accounts.set_password(session=session, username=username, password=PASSWORD)
        for article_id in report.added:  # offered, then answered yes or no (or not at all), and read
            shown = rng.randrange(0, 60)
            solved = rng.randint(0, shown)
            outcomes = [Feedback.SHOWN] * shown + [Feedback.SOLVED] * solved + \
                [Feedback.NOT_SOLVED] * rng.randint(0, shown - solved) + [Feedback.VIEWED] * rng.randrange(0, 20)
            for outcome in outcomes:
                knowledge.record_feedback(session=session, article_id=article_id, outcome=outcome)
        for _ in range(300):  # a few questions often, many rarely
            building = min(int(rng.paretovariate(1.2)), 60)
            knowledge.record_gap(session=session, text=f"how do I get a parking badge for building {building}",
                                 channel=rng.choice(("email", "slack", "webchat")), intent=None,
                                 best_article=rng.choice(report.added), best_score=0.2,
                                 now=now - dt.timedelta(hours=rng.uniform(0, 600)))
        numbers = list(session.scalars(select(Ticket.number).join(Group, Ticket.group_id == Group.id)
                                       .where(Group.name == "Network")))
    engine.dispose()
    return numbers


def _serve(url: str, port: int) -> None:
    """The child process: the HTTP app with the console and /kb, as the console's tests and ``serve`` mount them."""
    import uvicorn

    from bot.composition import Deskbot, channel_states
    from bot.console import console_router
    from bot.http import create_app
    from bot.retraining import Retraining
    from bot.kb_pages import kb_router
    from bot.knowledge import DeskArticles
    from bot.settings import Settings

    deskbot = Deskbot(Settings(database_url=url))  # type: ignore[call-arg]
    published = DeskArticles(deskbot.uow)
    app = create_app(deskbot=deskbot, channels=channel_states(deskbot.settings), routers=[
        kb_router(articles=published, viewed=published.viewed),
        console_router(uow=deskbot.uow, analyzer=lambda: None, kb_url=f"{deskbot.settings.public_url}/kb",
                           retraining=Retraining.from_settings(deskbot.settings), registry=deskbot.registry)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/console/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError(f"no sign-in form at /console/signin ({form.status_code})")
    answer = client.post("/console/signin", data={"username": username, "password": PASSWORD,
                                                   "csrf_token": token[1], "next": "/console/"})
    if answer.status_code != 303:
        raise RuntimeError(f"{username} could not sign in: {answer.status_code} {answer.text[:200]}")
    return client


def pages() -> list[tuple[str, str, str]]:
    """(page, path, who); a path with ``{ticket}`` opens a random ticket of the agent's group each time."""
    return [
        ("queue: mine", "/console/?queue=mine", AGENT),
        ("queue: my groups", "/console/?queue=groups", AGENT),
        ("queue: triage", "/console/?queue=triage", AGENT),
        ("queue: breached or at risk", "/console/?queue=at-risk", AGENT),
        ("queue rows (the 5 s poll)", "/console/queue/rows?queue=groups", AGENT),
        ("ticket view", "/console/tickets/{ticket}", AGENT),
        ("KPI dashboard", "/console/kpis", ADMIN),
        ("KB list", "/console/kb", AGENT),
        ("KB article numbers", "/console/kb/articles/KB-0006", AGENT),
        ("KB editor", "/console/kb/articles/KB-0006/edit", AGENT),
        ("KB gaps", "/console/kb/gaps", AGENT),
        ("admin: users", "/console/admin/users", ADMIN),
        ("admin: groups", "/console/admin/groups", ADMIN),
        ("admin: routing", "/console/admin/routing", ADMIN),
        ("admin: SLA", "/console/admin/sla", ADMIN),
        ("admin: dead letters", "/console/admin/dead-letters", ADMIN),
        ("admin: audit", "/console/admin/audit", ADMIN),
        ("admin: models", "/console/admin/models", ADMIN),
    ]


def measure(clients: dict[str, httpx.Client], page: str, path: str, who: str, *, n: int, numbers: list[int],
            rng: random.Random) -> Timing:
    timing = Timing(page, path, who)
    client = clients[who]
    first = client.get(path.format(ticket=rng.choice(numbers)))  # also the warm-up
    if first.status_code == 404:
        timing.skipped = "404: not in this build"
        return timing
    for _ in range(n):
        wanted = path.format(ticket=rng.choice(numbers))
        started = time.perf_counter()
        answer = client.get(wanted)
        timing.millis.append(1000 * (time.perf_counter() - started))
        if answer.status_code != 200:
            timing.errors.append(f"{wanted}: {answer.status_code}")
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    args = parser.parse_args()
    rng = random.Random(14)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'console-bench.db'}"
        started = time.perf_counter()
        numbers = seed_desk(url, tickets=args.tickets, messages=args.messages)
        print(f"seeded {args.tickets:,} tickets, {args.messages:,} messages and the KB seed in "
              f"{time.perf_counter() - started:.0f} s")
        with served_app(_serve, url) as base:
            clients = {who: signed_in(base, who) for who in (AGENT, ADMIN)}
            try:
                timings = [measure(clients, page, path, who, n=args.requests, numbers=numbers, rng=rng)
                           for page, path, who in pages()]
            finally:
                for client in clients.values():
                    client.close()
    print(f"\nSQLite, {args.tickets:,} tickets; one signed-in client, sequential requests over HTTP on loopback; "
          f"{args.requests} timed requests a page after one warm-up")
    print(f"{'page':<28} {'as':<12} {'n':>3} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'err':>4}  p95 < 1 s")
    for t in timings:
        if t.skipped:
            print(f"{t.page:<28} {t.who:<12} {'':>3} {'':>7} {'':>7} {'':>7} {'':>4}  skipped ({t.skipped}, {t.path})")
            continue
        print(f"{t.page:<28} {t.who:<12} {len(t.millis):>3} {t.percentile(50):>7.1f} {t.percentile(95):>7.1f} "
              f"{max(t.millis):>7.1f} {len(t.errors):>4}  {'yes' if t.percentile(95) < TARGET_MS else 'NO'}")
    for t in timings:
        for error in t.errors[:3]:
            print(f"  {t.page}: {error}")
    slow = [t.page for t in timings if t.millis and t.percentile(95) >= TARGET_MS]
    print("target p95 < 1 s: " + ("met by every page measured" if not slow else "missed by " + ", ".join(slow)))


if __name__ == "__main__":
    main()
