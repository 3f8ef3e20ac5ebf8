"""The desk: deskbot's system of record (tickets, people, SLA, routing, KPIs, audit).

The service modules (``desk.tickets``, ``desk.people``, ``desk.sla``, ``desk.routing``,
``desk.kpis``) are plain functions with keyword-only arguments that take a session;
callers get sessions from a ``UnitOfWork``.
"""

from desk.db import DatabaseUnavailable, UnitOfWork, make_engine, session_factory
from desk.domain import (
    AuthorKind,
    DeskError,
    Direction,
    DuplicateKey,
    InvalidTransition,
    Level,
    NotFound,
    Priority,
    QueueStatus,
    ResolutionCode,
    Role,
    Status,
    TicketType,
)

__all__ = [
    "AuthorKind", "DatabaseUnavailable", "DeskError", "Direction", "DuplicateKey", "InvalidTransition", "Level", "NotFound",
    "Priority", "QueueStatus", "ResolutionCode", "Role", "Status", "TicketType", "UnitOfWork", "make_engine", "session_factory",
]
