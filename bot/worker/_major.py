"""Major incidents: when several people report one cause within a short time, one problem links their incidents.

The desk opens the problem and records the ``MajorIncident`` event (its notice comes from there); this module
only decides when a new incident is one more report of a known problem, or the one that makes a major incident.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from desk import TicketType, relations

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.worker_settings import BotSettings
    from desk.models import Ticket
    from nlp import Analyzer

NOT_A_CAUSE = (None, "oos", "human_agent")  # intents that say nothing about what is broken


def known_problem(*, session: Session, ticket: Ticket, analyzer: Analyzer, settings: BotSettings,
                  now: dt.datetime) -> Ticket | None:
    """The active problem ``ticket`` was linked to as one more report of it, or None.

    N incidents of one intent (or of texts this similar) from different people within T minutes: a problem opens
    and links them; the report that tipped it over is not "known" yet (its requester hears the usual reply)."""
    if ticket.type is not TicketType.INCIDENT or ticket.intent in NOT_A_CAUSE:
        return None
    problem = relations.active_problem_for(session=session, intent=ticket.intent)
    if problem is not None:
        relations.link_to_problem(session=session, number=ticket.number, problem_number=problem.number, actor="bot",
                                  now=now)
        return problem
    others = [t for t in relations.recent_unlinked_incidents(session=session, since=now - settings.major_incident_window)
              if t.id != ticket.id]
    similarity = analyzer.similarities(ticket.description or ticket.subject, [t.description or t.subject for t in others])
    reports = [ticket] + [t for t, sim in zip(others, similarity)
                          if t.intent == ticket.intent or sim >= settings.major_incident_similarity]
    if len({t.requester_id for t in reports}) >= settings.major_incident_count:
        relations.open_major_incident(session=session, incidents=reports, intent=ticket.intent,
                                      requester_id=ticket.requester_id, actor="bot", now=now)
    return None
