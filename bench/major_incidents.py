"""Major incidents on a simulated day: are the problems the bot opens real outages, and how soon is each caught?

    .venv/bin/python bench/major_incidents.py [--seed 15] [--messages 3000] [--people 400] [--old-rule]

The day comes from bench/major_day.py (seeded): background requests and incidents in many styles, unrelated to
each other (no symptom from three people in half an hour), and a few real outages of 9-42 reports each. Every
message goes through the real worker pipeline (``Pipeline.accept`` and ``process_batch``, the clock set to the
message's arrival) with the analyzer ``deskbot serve`` uses (the active model version, the KB index, the
settings' backend and thresholds) on a temporary SQLite desk. It prints:

- problems opened, and how many are one real outage (most of their linked reports are that outage's): precision;
- per outage: reports sent, whether a problem caught it, after how many of its reports, how many were linked;
- ``--old-rule``: the same day's incidents under the rule before issue 15 (one intent, or a cosine of 0.75, from
  3 people in 30 minutes; a later incident of the problem's intent linked to it), replayed on the incidents the
  pipeline opened (its cost: one embedding of each incident).

Targets: precision >= 95 %, every outage of 5+ reports caught by its 5th report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from major_day import OUTAGES, SimMessage, simulated_day

OLD_SIMILARITY, OLD_COUNT, OLD_WINDOW = 0.75, 3, dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Incident:
    """An incident as the old rule saw it."""

    intent: str | None
    requester: int
    at: dt.datetime
    text: str
    kb_answer: bool  # opened with a KB answer: the old rule did not run for it


@dataclass(frozen=True)
class Opened:
    """A ticket the pipeline opened, and the message whose handling opened it."""

    ticket_id: int
    message: int  # index in the day
    is_problem: bool


def replay(day: list[SimMessage]) -> tuple[list[Opened], dict[int, int | None], dict[int, Incident], object]:
    """Runs the day; returns the tickets opened (in order), each ticket's problem, the incidents' fields for the
    old rule, and the analyzer."""
    from sqlalchemy import func, select

    from bot.composition import Deskbot
    from bot.conversation import ConversationRef, Identity, InboundMessage
    from bot.settings import Settings
    from bot.worker import Pipeline
    from desk import TicketType, UnitOfWork, make_engine, migrate, session_factory
    from desk import tickets as desk_tickets
    from desk.defaults import ensure_defaults
    from desk.models import Ticket

    deskbot = Deskbot(Settings())
    analyzer, settings = deskbot.analyzer, deskbot.bot_settings()
    folder = Path(tempfile.mkdtemp(prefix="deskbot-major-"))
    engine = make_engine(f"sqlite:///{folder / 'desk.db'}")
    migrate.upgrade(engine)
    uow = UnitOfWork(session_factory(engine))
    with uow() as session:
        ensure_defaults(session=session)
    pipeline = Pipeline(uow=uow, analyzer=analyzer, settings=settings, worker="bench")
    opened: list[Opened] = []
    last = 0
    started = time.perf_counter()
    for i, m in enumerate(day):
        channel = "webchat"
        pipeline.accept(InboundMessage(
            key=f"{channel}:{uuid.uuid4()}", conversation=ConversationRef(channel, f"{channel}:{m.who}", f"t{i}"),
            sender=Identity(channel, f"{channel}:{m.who}", m.who.split("@")[0], m.who, email_verified=True),
            text=m.text, received_at=m.at))
        while pipeline.process_batch(now=m.at):
            pass
        with uow() as session:
            for t in session.scalars(select(Ticket).where(Ticket.id > last).order_by(Ticket.id)):
                opened.append(Opened(t.id, i, t.type is TicketType.PROBLEM))
            last = session.scalar(select(func.max(Ticket.id))) or last
        if (i + 1) % 500 == 0:
            print(f"  {i + 1} messages, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    with uow() as session:
        everything = session.scalars(select(Ticket)).all()
        parents = {t.id: t.parent_id for t in everything}
        incidents = {t.id: Incident(t.intent, t.requester_id, t.created_at, t.description or t.subject,
                                    "kb-answer" in desk_tickets.tags_of(session=session, ticket=t))
                     for t in everything if t.type is TicketType.INCIDENT}
    print(f"replayed {len(day)} messages in {time.perf_counter() - started:.0f} s "
          f"(model {analyzer.model_version}, similarity {settings.major_incident_similarity:.2f}, "
          f"{settings.major_incident_count} people in {settings.major_incident_window})")
    return opened, parents, incidents, analyzer


def old_rule(incidents: dict[int, Incident], analyzer) -> dict[int, int | None]:
    """Each incident's problem under the rule before issue 15 (problems named by their first incident's id)."""
    ids = sorted(incidents)
    vectors = dict(zip(ids, analyzer.embed([incidents[i].text for i in ids])))
    parent: dict[int, int | None] = dict.fromkeys(ids)
    by_intent: dict[str, int] = {}
    for i in ids:
        me = incidents[i]
        if me.kb_answer or me.intent in (None, "oos", "human_agent"):
            continue  # the old rule ran only for tickets the policy opened, and only for a cause's intent
        if me.intent in by_intent:
            parent[i] = by_intent[me.intent]
            continue
        others = [j for j in ids if j < i and parent[j] is None and incidents[j].at >= me.at - OLD_WINDOW]
        reports = [i] + [j for j in others if incidents[j].intent == me.intent
                         or float(vectors[i] @ vectors[j]) >= OLD_SIMILARITY]
        if len({incidents[j].requester for j in reports}) >= OLD_COUNT:
            by_intent[me.intent] = i
            for j in reports:
                parent[j] = i
    return parent


def report(day: list[SimMessage], source: dict[int, int], parents: dict[int, int | None],
           opened_by: dict[int, int], title: str) -> tuple[float, bool]:
    """Prints the figures of one rule; ``source``: ticket -> message index, ``parents``: ticket -> problem,
    ``opened_by``: problem -> the message whose handling opened it. Returns (precision, recall target met)."""
    linked: dict[int, list[int]] = {}
    for ticket, problem in parents.items():
        if problem is not None and ticket in source:
            linked.setdefault(problem, []).append(source[ticket])
    real: dict[int, str] = {}
    for problem in opened_by:
        outages = Counter(day[i].outage for i in linked.get(problem, []))
        top, n = outages.most_common(1)[0] if outages else (None, 0)
        if top is not None and n * 2 > sum(outages.values()):
            real[problem] = top
    precision = len(real) / len(opened_by) if opened_by else 1.0
    print(f"\n{title}")
    print(f"  problems opened: {len(opened_by)}, real outages: {len(real)}, precision {100 * precision:.1f} %")
    for problem in sorted(set(opened_by) - set(real)):
        texts = [day[i].text for i in linked.get(problem, [])][:4]
        print(f"    false alarm: {len(linked.get(problem, []))} reports, e.g. {' | '.join(texts)}")
    target_met = True
    print(f"  {'outage':<30} {'reports':>7} {'caught by report':>17} {'linked':>7} {'problems':>8}")
    for outage in OUTAGES:
        sent = [i for i, m in enumerate(day) if m.outage == outage.name]
        mine = sorted(p for p, name in real.items() if name == outage.name)
        caught = (sum(1 for i in sent if i <= opened_by[mine[0]]) if mine else None)
        n_linked = sum(1 for p in mine for i in linked[p] if day[i].outage == outage.name)
        if len(sent) >= 5 and (caught is None or caught > 5):
            target_met = False
        print(f"  {outage.name:<30} {len(sent):>7} {caught if caught else 'missed':>17} {n_linked:>7} {len(mine):>8}")
    return precision, target_met


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--old-rule", action="store_true", help="also the rule before issue 15, on the same day")
    args = parser.parse_args(argv)
    day = simulated_day(seed=args.seed, messages=args.messages, people=args.people)
    print(f"a simulated day: {len(day)} messages from {len({m.who for m in day})} people over "
          f"{(day[-1].at - day[0].at).total_seconds() / 3600:.1f} h, "
          f"{sum(m.outage is not None for m in day)} of them reports of {len(OUTAGES)} outages")
    opened, parents, incidents, analyzer = replay(day)
    source = {o.ticket_id: o.message for o in opened if not o.is_problem}
    opened_by = {o.ticket_id: o.message for o in opened if o.is_problem}
    precision, recall = report(day, source, parents, opened_by, "this rule (one code; one system or place said to be "
                                                                "out or alike; or one intent and alike)")
    print(f"\n  targets: precision >= 95 % {'met' if precision >= 0.95 else 'MISSED'}; every outage of 5+ reports "
          f"caught by its 5th report {'met' if recall else 'MISSED'}")
    if args.old_rule:
        old = old_rule(incidents, analyzer)
        old_opened_by = {p: source[p] for p in set(old.values()) if p is not None}
        report(day, source, old, old_opened_by, "the rule before issue 15 (one intent, or cosine 0.75)")


if __name__ == "__main__":
    main(sys.argv[1:])
