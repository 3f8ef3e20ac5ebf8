"""Routing: which group a ticket goes to, and which agent of that group takes it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from desk.domain import ACTIVE_STATUSES, Level, TicketType
from desk.models import Group, RoutingRule, Ticket, User, group_members
from desk.people import get_group


def rule_for(*, session: Session, intent: str | None) -> RoutingRule | None:
    if not intent:
        return None
    return session.scalar(_RULE_FOR, {"intent": intent})


# its group and the group's holidays with it: opening a ticket needs all three, the holidays for the SLA's calendar
# (built once, see desk._base)
_RULE_FOR = select(RoutingRule).where(RoutingRule.intent == bindparam("intent")).options(
    joinedload(RoutingRule.group).joinedload(Group.holidays))


def list_rules(*, session: Session) -> Sequence[RoutingRule]:
    return session.scalars(select(RoutingRule).options(selectinload(RoutingRule.group))
                           .order_by(RoutingRule.intent)).all()


def set_rule(
    *,
    session: Session,
    intent: str,
    group: str,
    ticket_type: TicketType = TicketType.INCIDENT,
    urgency: Level = Level.MEDIUM,
) -> RoutingRule:
    target = get_group(session=session, name=group)
    rule = rule_for(session=session, intent=intent)
    if rule is None:
        rule = RoutingRule(intent=intent)
        session.add(rule)
    rule.group, rule.ticket_type, rule.urgency = target, ticket_type, int(urgency)
    session.flush()
    return rule


def least_loaded_agent(*, session: Session, group: Group) -> User | None:
    """The active, available member with the fewest active tickets; round-robin among equals."""
    return session.scalar(_LEAST_LOADED, {"group_id": group.id})


# Each member's active tickets are counted through the assignee index: counting every active ticket of the desk
# and joining the counts cost a scan of them all for each ticket opened. Built once (see desk._base).
_ACTIVE_LOAD = (select(func.count(Ticket.id)).where(Ticket.assignee_id == User.id, Ticket.status.in_(ACTIVE_STATUSES))
                .correlate(User).scalar_subquery())
_LEAST_LOADED = (
    select(User)
    .join(group_members, group_members.c.user_id == User.id)
    .where(group_members.c.group_id == bindparam("group_id"), User.active.is_(True), User.available.is_(True))
    # Never-assigned agents first, then the one assigned longest ago.
    .order_by(_ACTIVE_LOAD, User.last_assigned_at.is_not(None), User.last_assigned_at, User.id)
    .limit(1)
)
