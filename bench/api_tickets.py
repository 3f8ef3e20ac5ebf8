"""Ticket API benchmark: p50/p95/p99 of the ticket list and the ticket detail over real HTTP, on a seeded desk.

    .venv/bin/python bench/api_tickets.py [--database sqlite|postgresql|both] [--tickets 100000] [--messages 500000]
                                          [--requests 200] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Seeds a migrated desk (SQLite in a scratch folder; PostgreSQL in a fresh database, dropped afterwards) with
``--tickets`` tickets and ``--messages`` messages spread over a year (status by age, priority, group, assignee,
channel, a few frequent requesters, audit entries), with bulk Core inserts. Then the app as ``deskbot serve``
builds it runs on uvicorn on loopback in a process of its own, and one client asks, one request at a time, with
an agent's API token (two groups and the triage queue) or an admin's: the list filtered by status and group, by
priority, walked with the cursor page after page, searched with ``q=`` (a common word, a rare asset tag, a word
no ticket has), and the detail of random tickets. The detail is measured twice: without the NLP, and with an
analyzer on the HashingEmbedder (a bag-of-words stand-in for MiniLM, so its cost here is a floor); the NLP's
own cost is timed apart, in this process, on the same texts. The database is ANALYZEd after seeding, as a
running one would be.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import random
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from desk import AuthorKind, Direction, Priority, ResolutionCode, Role, Status, TicketType, UnitOfWork, accounts
from desk import make_engine, migrate, people, session_factory
from desk.defaults import ensure_defaults
from desk.domain import SlaState
from desk.models import AuditEntry, Group, Message, Requester, Ticket, User
from desk.taxonomy import packaged_taxonomy

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
CHUNK = 5_000
AGENT_GROUPS = ("Network", "Workplace")  # the agent also sees the triage queue (Service Desk)
GROUP_WEIGHTS = {"Service Desk": 20, "Identity & Access": 14, "Workplace": 18, "Network": 12, "Messaging": 10,
                 "Applications": 8, "Collaboration": 5, "Infrastructure": 4, "Security": 3, "Procurement": 3,
                 "Telephony": 2}
CHANNELS = {"email": 40, "slack": 35, "webchat": 15, "telegram": 10}
PRIORITIES = {Priority.P1: 2, Priority.P2: 13, Priority.P3: 50, Priority.P4: 35}
TYPES = {TicketType.INCIDENT: 60, TicketType.SERVICE_REQUEST: 36, TicketType.PROBLEM: 3, TicketType.CHANGE: 1}
# What a ticket's status is likely to be, by its age in days (up to the key).
STATUS_BY_AGE = ((7, {Status.NEW: 20, Status.OPEN: 35, Status.PENDING: 15, Status.RESOLVED: 25, Status.CLOSED: 5}),
                 (30, {Status.NEW: 3, Status.OPEN: 12, Status.PENDING: 8, Status.RESOLVED: 30, Status.CLOSED: 47}),
                 (366, {Status.OPEN: 1, Status.PENDING: 1, Status.RESOLVED: 8, Status.CLOSED: 90}))
# (intent, subject, what requesters write); "vpn" is the common word the text search looks for.
TOPICS = (
    ("vpn_connection", "VPN keeps dropping", ["my vpn drops every few minutes", "the vpn client says the gateway timed out",
                                              "vpn works at home but not at the hotel"]),
    ("password_reset", "Password reset", ["I forgot my password", "my password expired and I cannot change it"]),
    ("account_locked", "Account locked", ["my account is locked after too many attempts", "locked out of windows"]),
    ("printer_problem", "Printer jams", ["the printer on floor 2 jams", "printing hangs in the queue forever"]),
    ("mailbox_full", "Mailbox full", ["outlook says my mailbox is over its quota", "cannot send mail, mailbox full"]),
    ("laptop_slow", "Laptop very slow", ["my laptop takes ten minutes to start", "everything freezes after lunch"]),
    ("wifi_connection", "Wifi not connecting", ["the wifi in meeting room B keeps dropping", "no wifi on my phone"]),
    ("software_install", "Install request", ["please install visio for me", "I need python on my workstation"]),
    ("application_down", "ERP is down", ["the erp answers error 500", "nobody in finance can log in to the erp"]),
    ("new_hardware", "New monitor", ["I need a second monitor", "my docking station is broken, need a new one"]),
    ("phishing_report", "Suspicious mail", ["I got a mail asking for my password", "clicked a strange link, sorry"]),
    ("video_call_problem", "No sound in calls", ["nobody hears me in teams calls", "camera is black in meetings"]),
)
ANSWERS = ("Could you restart and try again?", "I have reset it on our side, please check.",
           "Can you send a screenshot of the error?", "We are looking into it with the vendor.")
NOTES = ("checked the logs, nothing obvious", "escalating to second level", "waiting for the vendor's answer")
ABSENT = "zeppelin"  # in no subject and no message: the search that must look at everything


def _weighted(rng: random.Random, weights: dict) -> object:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass(frozen=True)
class Seeded:
    numbers: list[int]  # every ticket number
    agent_numbers: list[int]  # the tickets the agent may see
    rare_tags: list[str]  # asset tags that a handful of tickets mention
    agent: str  # API tokens (Authorization headers)
    admin: str
    inbound_texts: list[str]  # requesters' messages, for timing the NLP apart


def seed(engine: Engine, *, tickets: int, messages: int, rng: random.Random) -> Seeded:
    """Groups, agents and an admin through the desk; requesters, tickets, messages and audit in bulk."""
    uow = UnitOfWork(session_factory(engine))
    with uow() as session:
        ensure_defaults(session=session)
        groups = dict(session.execute(select(Group.name, Group.id)).all())
        for name in groups:
            for i in range(4):
                people.add_user(session=session, username=f"{_slug(name)}{i}", display_name=f"{name} agent {i}",
                                email=f"{_slug(name)}{i}@corp.example", groups=[name])
        people.add_user(session=session, username="bench-agent", display_name="Bench Agent",
                        email="bench-agent@corp.example", groups=list(AGENT_GROUPS))
        people.add_user(session=session, username="bench-admin", display_name="Bench Admin",
                        email="bench-admin@corp.example", role=Role.ADMIN, groups=[])
        session.flush()
        members = {g: [uid for (uid,) in session.execute(select(User.id).where(User.username.like(f"{_slug(g)}_")))]
                   for g in groups}
        agent_id = session.scalar(select(User.id).where(User.username == "bench-agent"))
        tokens = [f"Bearer {accounts.create_token(session=session, username=u, name='bench', now=NOW).secret}"
                  for u in ("bench-agent", "bench-admin")]
    requesters = max(100, tickets // 5)
    with engine.begin() as conn:
        _bulk(conn, Requester, ({"display_name": f"Employee {i}", "email": f"employee{i}@corp.example",
                                 "created_at": NOW - dt.timedelta(days=400)} for i in range(requesters)))
        first_requester = conn.scalar(select(Requester.id).order_by(Requester.id).limit(1))
        frequent = max(1, requesters // 20)  # a twentieth of the people write half of the tickets
        created = sorted(NOW - dt.timedelta(seconds=rng.uniform(0, 365 * 86400)) for _ in range(tickets))
        rows, seen_by_agent, names = [], [], {gid: name for name, gid in groups.items()}
        visible_groups = {groups[g] for g in (*AGENT_GROUPS, packaged_taxonomy().triage.group)}
        for i, at in enumerate(created):
            group = groups[_weighted(rng, GROUP_WEIGHTS)] if rng.random() > 0.01 else None
            age = (NOW - at).days
            status = _weighted(rng, next(w for days, w in STATUS_BY_AGE if age < days))
            assignee = rng.choice(members[names[group]]) if group and status is not Status.NEW and \
                rng.random() < 0.9 else None
            who = rng.randrange(frequent) if rng.random() < 0.5 else rng.randrange(requesters)
            intent, subject, _ = rng.choice(TOPICS)
            done = status in (Status.RESOLVED, Status.CLOSED)
            rows.append({"number": 1000 + i, "type": _weighted(rng, TYPES), "status": status, "impact": 2, "urgency": 2,
                         "priority": _weighted(rng, PRIORITIES), "intent": intent, "group_id": group,
                         "assignee_id": assignee, "requester_id": first_requester + who,
                         "channel": _weighted(rng, CHANNELS), "subject": f"{subject} ({rng.randrange(1, 40)})",
                         "description": "", "created_at": at, "updated_at": at + dt.timedelta(hours=rng.uniform(0, 48)),
                         "resolved_at": at + dt.timedelta(hours=rng.uniform(1, 72)) if done else None,
                         "resolution_code": ResolutionCode.AGENT if done else None,
                         "first_response_due": at + dt.timedelta(hours=4), "resolution_due": at + dt.timedelta(days=3),
                         "sla_state": (SlaState.MET if rng.random() < 0.85 else SlaState.MISSED) if done else
                         (SlaState.OK if rng.random() < 0.8 else rng.choice((SlaState.WARNING, SlaState.BREACHED)))})
            if group in visible_groups or group is None or assignee == agent_id:
                seen_by_agent.append(1000 + i)
        _bulk(conn, Ticket, rows)
        ids = dict(conn.execute(select(Ticket.number, Ticket.id)).all())
        counts = _message_counts(rng, tickets, messages)
        texts, audit, rare_tags, inbound_texts = [], [], [], []
        for row, count in zip(rows, counts):
            ticket_id, at = ids[row["number"]], row["created_at"]
            says = next(t[2] for t in TOPICS if t[0] == row["intent"])
            audit.append({"ticket_id": ticket_id, "actor": "bot", "field": "created", "old": None,
                          "new": row["number"], "at": at})
            for k in range(count):
                at += dt.timedelta(minutes=rng.uniform(1, 600))
                kind = "in" if k == 0 or k % 2 == 0 else rng.choice(("out", "out", "note"))
                if kind == "in":
                    body = rng.choice(says)
                    if rng.random() < 0.02:  # an asset tag: what a rare search finds
                        tag = f"LT-{rng.randrange(100000, 999999)}"
                        body += f", asset {tag}"
                        rare_tags.append(tag)
                    inbound_texts.append(body)
                    texts.append(_message(ticket_id, at, Direction.INBOUND, AuthorKind.REQUESTER, row["channel"], body))
                elif kind == "out":
                    texts.append(_message(ticket_id, at, Direction.OUTBOUND, AuthorKind.AGENT, row["channel"],
                                          rng.choice(ANSWERS), row["assignee_id"]))
                else:
                    texts.append(_message(ticket_id, at, Direction.NOTE, AuthorKind.AGENT, "desk", rng.choice(NOTES),
                                          row["assignee_id"]))
            if row["assignee_id"]:
                audit.append({"ticket_id": ticket_id, "actor": "bot", "field": "assignee", "old": None,
                              "new": str(row["assignee_id"]), "at": row["created_at"] + dt.timedelta(minutes=1)})
            if row["status"] is not Status.NEW:
                audit.append({"ticket_id": ticket_id, "actor": "user:agent", "field": "status", "old": "new",
                              "new": row["status"].value, "at": row["updated_at"]})
        # In time order across tickets, as a live desk writes them: one ticket's rows are spread over the table.
        texts.sort(key=lambda m: m["created_at"])
        for n, m in enumerate(texts):
            m["idempotency_key"] = f"seed:{n}"
        _bulk(conn, Message, texts)
        audit.sort(key=lambda a: a["at"])
        _bulk(conn, AuditEntry, audit)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return Seeded(numbers=[r["number"] for r in rows], agent_numbers=seen_by_agent, rare_tags=rare_tags,
                  agent=tokens[0], admin=tokens[1], inbound_texts=inbound_texts)


def _slug(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def _message_counts(rng: random.Random, tickets: int, messages: int) -> list[int]:
    """Between 1 and 2 * mean - 1 messages a ticket, ``messages`` in all."""
    mean = max(1, messages // tickets)
    counts = [rng.randint(1, 2 * mean - 1) for _ in range(tickets)]
    total = sum(counts)
    step = 1 if total < messages else -1
    while total != messages:
        i = rng.randrange(tickets)
        if 1 <= counts[i] + step <= 2 * mean - 1:
            counts[i] += step
            total += step
    return counts


def _message(ticket_id: int, at: dt.datetime, direction: Direction, author: AuthorKind, channel: str, body: str,
             user_id: int | None = None) -> dict:
    return {"ticket_id": ticket_id, "direction": direction, "author_kind": author, "channel": channel, "text": body,
            "author_user_id": user_id if author is AuthorKind.AGENT else None, "created_at": at}


def _bulk(conn, model, rows) -> None:  # noqa: ANN001
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            conn.execute(insert(model), batch)
            batch = []
    if batch:
        conn.execute(insert(model), batch)


# --- the NLP and the server --------------------------------------------------------------------------------------


def build_nlp(folder: Path) -> None:
    """A model trained on the packaged data and the KB index, both on the HashingEmbedder."""
    from nlp import HashingEmbedder, ModelRegistry, reindex, train_and_register

    train_and_register(data_dir=ROOT / "nlp" / "data", embedder=HashingEmbedder(), registry=ModelRegistry(folder / "models"),
                       tune=False)
    reindex(ROOT / "kb_articles", folder / "kb", HashingEmbedder())


def _analyzer(folder: Path):  # noqa: ANN202
    from nlp import Analyzer, HashingEmbedder, ModelRegistry

    return Analyzer(embedder=HashingEmbedder(), registry=ModelRegistry(folder / "models"), kb_index_dir=folder / "kb")


def _serve(url: str, nlp: str | None, port: int) -> None:
    """The child process: the app as ``deskbot serve`` builds it (the NLP from ``nlp``, or none)."""
    import uvicorn

    from bot.composition import Deskbot, channel_states
    from bot.http import create_app
    from bot.settings import Settings

    analyzer = _analyzer(Path(nlp)) if nlp else None
    deskbot = Deskbot(Settings(database_url=url))  # type: ignore[call-arg]
    app = create_app(deskbot=deskbot, channels=channel_states(deskbot.settings), analyzer=lambda: analyzer)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


@contextmanager
def served_app(target: Callable[..., None], *args: object) -> Iterator[str]:
    """``target(*args, port)`` (a function that runs an app with uvicorn on loopback) in a child process, until
    its /health answers; yields its base URL, and ends the process after the block."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = multiprocessing.get_context("spawn").Process(target=target, args=(*args, port), daemon=True)
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not process.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.join(10)


@contextmanager
def served(url: str, nlp: Path | None) -> Iterator[httpx.Client]:
    with served_app(_serve, url, str(nlp) if nlp else None) as base, \
            httpx.Client(base_url=base, timeout=120) as client:
        yield client


# --- measuring ---------------------------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    millis: list[float]
    rows: list[int]
    errors: int = 0

    def percentile(self, p: int) -> float:
        if len(self.millis) < 2:
            return self.millis[0] if self.millis else float("nan")
        return statistics.quantiles(self.millis, n=100, method="inclusive")[p - 1]


Request = tuple[str, dict, str]  # path, query parameters, Authorization header


def measure(client: httpx.Client, scenario: str, requests: list[Request], *, warm_up: int = 3) -> Result:
    result = Result(scenario, [], [])
    for path, params, auth in requests[:warm_up]:
        client.get(path, params=params, headers={"Authorization": auth})
    for path, params, auth in requests:
        started = time.perf_counter()
        answer = client.get(path, params=params, headers={"Authorization": auth})
        result.millis.append(1000 * (time.perf_counter() - started))
        if answer.status_code != 200:
            result.errors += 1
            print(f"  {scenario}: {answer.status_code} {answer.text[:200]}")
            continue
        body = answer.json()
        result.rows.append(len(body["items"]) if "items" in body else len(body["conversation"]))
    return result


def walk(client: httpx.Client, scenario: str, *, auth: str, walks: int, pages: int, rng: random.Random) -> Result:
    """Pages 2 to ``pages`` of the list, each asked with the cursor of the page before (page 1 is not counted)."""
    result = Result(scenario, [], [])
    for _ in range(walks):
        params = {"limit": 50, "created_to": (NOW - dt.timedelta(days=rng.uniform(0, 300))).isoformat()}
        cursor = client.get("/api/v1/tickets", params=params, headers={"Authorization": auth}).json()["next_cursor"]
        for _ in range(pages - 1):
            if cursor is None:
                break
            started = time.perf_counter()
            answer = client.get("/api/v1/tickets", params={**params, "cursor": cursor}, headers={"Authorization": auth})
            result.millis.append(1000 * (time.perf_counter() - started))
            if answer.status_code != 200:
                result.errors += 1
                break
            cursor = answer.json()["next_cursor"]
            result.rows.append(len(answer.json()["items"]))
    return result


def scenarios(client: httpx.Client, seeded: Seeded, *, n: int, rng: random.Random) -> list[Result]:
    agent, admin, tickets = seeded.agent, seeded.admin, "/api/v1/tickets"
    searches = max(20, n // 4)
    groups = list(GROUP_WEIGHTS)
    return [
        measure(client, "list status new+open, group (agent)", [
            (tickets, {"status": ["new", "open"], "group": rng.choice(AGENT_GROUPS)}, agent) for _ in range(n)]),
        measure(client, "list status open, group (admin)", [
            (tickets, {"status": "open", "group": rng.choice(groups)}, admin) for _ in range(n)]),
        measure(client, "list priority P1 or P2 (admin)", [
            (tickets, {"priority": rng.choice(("P1", "P2"))}, admin) for _ in range(n)]),
        measure(client, "list priority P1 (agent)", [(tickets, {"priority": "P1"}, agent) for _ in range(n)]),
        walk(client, "list cursor pages 2-10 (admin)", auth=admin, walks=max(1, n // 9), pages=10, rng=rng),
        walk(client, "list cursor pages 2-10 (agent)", auth=agent, walks=max(1, n // 9), pages=10, rng=rng),
        measure(client, "list q=vpn, common (admin)", [(tickets, {"q": "vpn"}, admin) for _ in range(searches)]),
        measure(client, "list q=<asset tag>, rare (admin)", [
            (tickets, {"q": rng.choice(seeded.rare_tags)}, admin) for _ in range(searches)]),
        measure(client, "list q=<asset tag>, rare (agent)", [
            (tickets, {"q": rng.choice(seeded.rare_tags)}, agent) for _ in range(searches)]),
        measure(client, f"list q={ABSENT}, no match (admin)", [(tickets, {"q": ABSENT}, admin) for _ in range(searches)]),
        measure(client, "detail, no NLP (admin)", [
            (f"{tickets}/{rng.choice(seeded.numbers)}", {}, admin) for _ in range(n)]),
        measure(client, "detail, no NLP (agent)", [
            (f"{tickets}/{rng.choice(seeded.agent_numbers)}", {}, agent) for _ in range(n)]),
    ]


def nlp_alone(folder: Path, texts: list[str], *, n: int, rng: random.Random) -> Result:
    """What the detail's suggestions cost: ``Analyzer.analyze`` of a requester's message, in this process."""
    analyzer = _analyzer(folder)
    result = Result("NLP analyze alone (in process)", [], [])
    for text_ in [rng.choice(texts) for _ in range(n)]:
        started = time.perf_counter()
        hits = analyzer.analyze(text_).kb_hits
        result.millis.append(1000 * (time.perf_counter() - started))
        result.rows.append(len(hits))
    return result


def run(name: str, url: str, *, args: argparse.Namespace, nlp: Path) -> list[tuple[str, Result]]:
    rng = random.Random(12)
    engine = make_engine(url)
    migrate.upgrade(engine)
    started = time.perf_counter()
    seeded = seed(engine, tickets=args.tickets, messages=args.messages, rng=rng)
    print(f"{name}: seeded {args.tickets:,} tickets and {args.messages:,} messages in "
          f"{time.perf_counter() - started:.0f} s")
    engine.dispose()
    with served(url, None) as client:
        results = scenarios(client, seeded, n=args.requests, rng=rng)
    with served(url, nlp) as client:
        results.append(measure(client, "detail, with NLP (admin)", [
            (f"/api/v1/tickets/{rng.choice(seeded.numbers)}", {}, seeded.admin) for _ in range(args.requests)]))
    results.append(nlp_alone(nlp, seeded.inbound_texts, n=args.requests, rng=rng))
    return [(name, r) for r in results]


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    name = f"deskbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario (searches: a quarter)")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    rows: list[tuple[str, Result]] = []
    with tempfile.TemporaryDirectory() as folder:
        nlp = Path(folder) / "nlp"
        build_nlp(nlp)
        if args.database in ("sqlite", "both"):
            rows += run("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", args=args, nlp=nlp)
        if args.database in ("postgresql", "both"):
            with postgres_database(args.postgres) as url:
                rows += run("PostgreSQL", url, args=args, nlp=nlp)
    print(f"\n{args.tickets:,} tickets, {args.messages:,} messages; one client, sequential requests over HTTP on "
          f"loopback; NLP: HashingEmbedder (a stand-in for MiniLM)")
    print(f"{'database':<11} {'scenario':<38} {'n':>4} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'rows':>5} {'err':>4}")
    for database, r in rows:
        mean_rows = statistics.mean(r.rows) if r.rows else 0
        print(f"{database:<11} {r.scenario:<38} {len(r.millis):>4} {r.percentile(50):>7.1f} {r.percentile(95):>7.1f} "
              f"{r.percentile(99):>7.1f} {mean_rows:>5.0f} {r.errors:>4}")
    over = [r.scenario for database, r in rows if database == "PostgreSQL" and "in process" not in r.scenario
            and r.percentile(95) >= 50]
    if any(database == "PostgreSQL" for database, _ in rows):
        print("PostgreSQL target p95 < 50 ms: " + ("met by every scenario" if not over else "missed by " + ", ".join(over)))


if __name__ == "__main__":
    main()
