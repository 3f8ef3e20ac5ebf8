"""Major incidents: when several people report one cause within a short time, one problem links their incidents.

Two reports have one cause (``bot.worker._names`` reads what they name) when:
- they name one error code;
- or they name one system, and both say it is out ("SAP is down", "can't log in to SAP") or their vectors' cosine
  is at or above the named-similarity setting: a busy system has many unrelated troubles a day;
- or they are of one intent and name one place (site, building, floor), and both say it is out or read alike at
  the named similarity;
- or they are of one intent and name one HTTP error, or read alike (the similarity setting);
never when they name different systems or places. "Teams crashes", "SAP is down" and "the Salesforce login
fails" are three things, however close in time; so are "SAP is down" and "SAP crashes when I export to Excel".
A problem opens when N people's reports within T minutes are of one cause each with every other; unsure messages
naming a code, system or place count as their senders' reports (``Reports.note_unclear``). Such a group that names
what an active problem's reports of the window name joins that problem (another symptom of one outage).

The desk opens the problem and records the ``MajorIncident`` event (its notice comes from there); this module
only decides when a new incident is one more report of a known problem, or the one that makes a major incident.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bot.worker._names import Namer, Names, Place
from desk import TicketType, relations
from desk.systems import Systems

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.worker_settings import BotSettings
    from desk.models import Ticket
    from desk.relations import IncidentRow
    from nlp import Analyzer

NOT_A_CAUSE = (None, "oos", "human_agent")  # intents that say nothing about what is broken
REMEMBERED = 5000  # reports whose vectors are kept; past it the least recently used go (and are embedded again)
PROBLEM_REPORTS = 20  # a new report is compared with this many of a known problem's latest reports


@dataclass(frozen=True)
class Report:
    """An incident as the rule compares it."""

    ticket_id: int
    requester_id: int
    intent: str | None
    names: Names
    vector: np.ndarray = field(compare=False, repr=False)


def same_cause(a: Report, b: Report, *, similarity: float, named_similarity: float) -> bool:
    """Whether two reports are about one thing (see the module's docstring)."""
    if a.names.same_code(b.names):
        return True
    if a.names.name_different_things(b.names):
        return False
    alike = float(a.vector @ b.vector)
    if a.names.same_system(b.names):  # a busy system has many troubles a day: one of them, or the system out
        return a.names.both_unavailable(b.names) or alike >= named_similarity
    if a.intent != b.intent or a.intent in NOT_A_CAUSE:
        return False
    if a.names.same_place(b.names):  # a building's printers, say: one of them out, or one trouble of them
        return a.names.both_unavailable(b.names) or alike >= named_similarity
    return a.names.same_http_error(b.names) or alike >= similarity


def one_cause(report: Report, candidates: Sequence[Report], *, similarity: float,
              named_similarity: float) -> list[Report]:
    """The candidates that are, with ``report``, reports of one cause each with every other: the most alike first,
    each kept only when it is of one cause with all those kept before it (a new report alike to several unrelated
    ones is not what makes them one)."""
    kept: list[Report] = []
    for other in sorted(candidates, key=lambda c: -float(report.vector @ c.vector)):
        if all(same_cause(other, k, similarity=similarity, named_similarity=named_similarity)
               for k in [report, *kept]):
            kept.append(other)
    return kept


def ticket_text(ticket: Ticket | IncidentRow) -> str:
    subject, description = ticket.subject or "", ticket.description or ""
    return description if subject.lower() in description.lower() else f"{subject}\n{description}"


class Reports:
    """The reports the rule compared lately, with their names and vectors: a text is embedded once (the new
    message's vector comes with its analysis), not once per later message. Bounded: entries unused for longer
    than the window, and the least recently used past ``REMEMBERED``, are forgotten."""

    def __init__(self, systems: Systems):
        self.systems = systems
        self._namer: Namer | None = None
        self._kb: object = None
        self._known: OrderedDict[int, tuple[Report, dt.datetime]] = OrderedDict()
        self._unclear: list[tuple[Report, dt.datetime]] = []  # see ``note_unclear``

    def namer(self, analyzer: Analyzer) -> Namer:
        """The systems file's names and the KB titles' ones (read again when the KB index is reloaded)."""
        if self._namer is None or analyzer.kb is not self._kb:
            self._kb = analyzer.kb
            self._namer = Namer(self.systems, (a.title for a in analyzer.kb.articles.values()))
        return self._namer

    def of(self, tickets: Sequence[Ticket | IncidentRow], analyzer: Analyzer, *, now: dt.datetime,
           vectors: dict[int, np.ndarray] | None = None) -> list[Report]:
        """The reports of ``tickets``, embedding only those not known yet (and not in ``vectors``)."""
        vectors = dict(vectors or {})
        missing = [t for t in tickets if t.id not in self._known and t.id not in vectors]
        if missing:
            vectors.update(zip((t.id for t in missing), analyzer.embed([ticket_text(t) for t in missing])))
        namer, found = self.namer(analyzer), []
        for ticket in tickets:
            known = self._known.pop(ticket.id, None)
            report = known[0] if known is not None else Report(
                ticket.id, ticket.requester_id, ticket.intent, namer.names(ticket_text(ticket)), vectors[ticket.id])
            self._known[ticket.id] = (report, now)
            found.append(report)
        return found

    def note_unclear(self, report: Report, now: dt.datetime) -> None:
        """A message read too unsure to act on that names an error code or a system (no ticket: its sender was
        asked what it is about). It counts as its sender's report for the window, so that an outage whose first
        reports are all unsure still opens its problem by its Nth reporter. Kept in this worker's memory only:
        with several worker processes, each counts the unsure messages it handled."""
        self._unclear.append((report, now))

    def unclear(self) -> list[Report]:
        return [report for report, _ in self._unclear]

    def forget(self, *, before: dt.datetime) -> None:
        while self._known and (len(self._known) > REMEMBERED or next(iter(self._known.values()))[1] < before):
            self._known.popitem(last=False)
        self._unclear = [(r, at) for r, at in self._unclear if at >= before][-REMEMBERED:]

    def clear(self) -> None:
        """Forget every report: after a rollback, one may be of a ticket that no longer exists (on SQLite its
        id goes to the next ticket)."""
        self._known.clear()
        self._unclear.clear()

    def __len__(self) -> int:
        return len(self._known)


def known_problem(*, session: Session, ticket: Ticket, vector: np.ndarray | None, analyzer: Analyzer,
                  reports: Reports, settings: BotSettings, now: dt.datetime) -> Ticket | None:
    """The active problem ``ticket`` was linked to as one more report of it, or None.

    ``vector``: the sentence vector of the message's analysis (None: the ticket's text is embedded). A report of
    an active problem's cause is linked to it; N reports of one cause from different people within T minutes open
    a problem linking them, and the report that tipped it over is not "known" yet (its requester hears the usual
    reply)."""
    if ticket.type is not TicketType.INCIDENT or ticket.intent in NOT_A_CAUSE:
        return None
    reports.forget(before=now - settings.major_incident_window)
    [report] = reports.of([ticket], analyzer, now=now, vectors={ticket.id: vector} if vector is not None else None)
    problem = _active_problem_of(report, session=session, analyzer=analyzer, reports=reports, settings=settings,
                                 now=now)
    if problem is not None:
        relations.link_to_problem(session=session, number=ticket.number, problem_number=problem.number,
                                  actor="bot", now=now)
        return problem
    alike, people = _recent_of_one_cause(report, session=session, analyzer=analyzer, reports=reports,
                                         settings=settings, now=now)
    if len(people) < settings.major_incident_count:
        return None
    # Another symptom of an outage still being reported ("SAP GUI hangs at logon" beside "SAP is down") makes a
    # group of its own: it joins that outage's problem rather than opening a second one.
    problem = _ongoing_problem_naming(report, session=session, analyzer=analyzer, reports=reports,
                                      settings=settings, now=now)
    if problem is None:
        relations.open_major_incident(session=session, incidents=[ticket, *alike], intent=ticket.intent,
                                      requester_id=ticket.requester_id, actor="bot", now=now)
        return None
    for incident in [ticket, *alike]:
        relations.link_to_problem(session=session, number=incident.number, problem_number=problem.number,
                                  actor="bot", now=now)
    return problem


def outage_named(*, session: Session, text: str, vector: np.ndarray | None, requester_id: int, guess: str | None,
                 analyzer: Analyzer, reports: Reports, settings: BotSettings, now: dt.datetime) -> str | None:
    """For a message the bot could not read well enough to act on: the intent of the outage it reports by what it
    names (an error code, a system or one place's device said to be out, shared with an active problem's reports
    or with enough people's recent ones, unsure messages included), or None. Such a message is one more report of
    the outage, not a question to ask back: "Outlook: Sending reported error (0x800CCC0E)" read at 0.39 is the
    fifth report of 0x800CCC0E. ``guess``: the unsure reading; a place links only reports of one intent, so it is
    the report's intent, and the ticket's when no ticket of the outage says one yet. A message that reports no
    known outage yet is noted (``Reports.note_unclear``) and its sender asked back."""
    namer = reports.namer(analyzer)
    names = namer.names(text)
    if not (names.codes or names.systems or names.place != Place()):
        return None  # without a name only alike words of one intent link reports, and the intent is what is unsure
    reports.forget(before=now - settings.major_incident_window)
    vector = vector if vector is not None else analyzer.embed([text])[0]
    report = Report(0, requester_id, guess if guess not in NOT_A_CAUSE else None, names, vector)
    problem = _active_problem_of(report, session=session, analyzer=analyzer, reports=reports, settings=settings,
                                 now=now)
    if problem is not None:
        return problem.intent
    alike, people = _recent_of_one_cause(report, session=session, analyzer=analyzer, reports=reports,
                                         settings=settings, now=now)
    intent = Counter(t.intent for t in alike).most_common(1)[0][0] if alike else guess
    if len(people) >= settings.major_incident_count and intent not in NOT_A_CAUSE:
        return intent
    reports.note_unclear(report, now)
    return None


def _active_problem_of(report: Report, *, session: Session, analyzer: Analyzer, reports: Reports,
                       settings: BotSettings, now: dt.datetime) -> Ticket | None:
    for problem, latest in relations.active_problems(session=session, reports=PROBLEM_REPORTS):
        linked = [t for t in latest if t.id != report.ticket_id]
        if any(same_cause(report, other, similarity=settings.major_incident_similarity,
                          named_similarity=settings.major_incident_named_similarity)
               for other in reports.of(linked, analyzer, now=now)):
            return problem
    return None


def _ongoing_problem_naming(report: Report, *, session: Session, analyzer: Analyzer, reports: Reports,
                            settings: BotSettings, now: dt.datetime) -> Ticket | None:
    """The active problem with a report in the window that names what ``report`` names: its error code or system,
    or, of one intent, its place."""
    for problem, latest in relations.active_problems(session=session, reports=PROBLEM_REPORTS):
        since = now - settings.major_incident_window
        linked = [t for t in latest if t.id != report.ticket_id and t.created_at >= since]
        if any(_name_one_thing(report, other) for other in reports.of(linked, analyzer, now=now)):
            return problem
    return None


def _name_one_thing(a: Report, b: Report) -> bool:
    if a.names.name_different_things(b.names):
        return False
    return (a.names.same_code(b.names) or a.names.same_system(b.names)
            or (a.intent == b.intent and a.names.same_place(b.names)))


def _recent_of_one_cause(report: Report, *, session: Session, analyzer: Analyzer, reports: Reports,
                         settings: BotSettings, now: dt.datetime) -> tuple[list[IncidentRow], set[int]]:
    """The unlinked incidents of the window that are, with ``report``, of one cause (``one_cause``), and the people
    who reported that cause: theirs, ``report``'s and those of the window's unsure messages of it."""
    since = now - settings.major_incident_window
    recent = [t for t in relations.recent_unlinked_incidents(session=session, since=since)
              if t.id != report.ticket_id and t.intent not in NOT_A_CAUSE]
    by_id = {t.id: t for t in recent}
    unsure = [u for u in reports.unclear() if u.requester_id != report.requester_id]
    kept = one_cause(report, [*reports.of(recent, analyzer, now=now), *unsure],
                     similarity=settings.major_incident_similarity,
                     named_similarity=settings.major_incident_named_similarity)
    tickets = [by_id[r.ticket_id] for r in kept if r.ticket_id in by_id]  # an unsure message's id is 0
    return tickets, {report.requester_id, *(r.requester_id for r in kept)}
