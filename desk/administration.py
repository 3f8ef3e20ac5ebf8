"""What admins change outside tickets, each change with an entry in the admin audit (who, what, old, new, when).

Users, groups with their calendars and notice targets, routing rules, SLA policies and dead letters: every
function makes the change through the desk's own function for it and records it, in the caller's transaction.
A model activation happens in the model registry (files, not the desk); the bot records it with ``record``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from desk import accounts, people, queue, routing, sla
from desk.domain import AdminAction, DeskError, Level, Priority, Role, TicketType
from desk.models import AdminAuditEntry, Group, InboxRow, OutboxRow, RoutingRule, SlaPolicy, User
from desk.taxonomy import Taxonomy, packaged_taxonomy


def record(*, session: Session, actor: str, action: AdminAction, target: str, now: dt.datetime,
           old: str | None = None, new: str | None = None) -> AdminAuditEntry:
    entry = AdminAuditEntry(actor=actor, action=action, target=target, old=old, new=new, at=now)
    session.add(entry)
    session.flush()
    return entry


def admin_log(*, session: Session, limit: int = 100) -> Sequence[AdminAuditEntry]:
    """The newest ``limit`` admin changes, newest first."""
    return session.scalars(select(AdminAuditEntry).order_by(AdminAuditEntry.id.desc()).limit(limit)).all()


def _changed(session: Session, actor: str, action: AdminAction, target: str, old: str, new: str,
             now: dt.datetime) -> None:
    if old != new:
        record(session=session, actor=actor, action=action, target=target, old=old, new=new, now=now)


# --- users ----------------------------------------------------------------------------------------------------


def _groups_text(user: User) -> str:
    return ", ".join(sorted(g.name for g in user.groups))


def create_user(*, session: Session, actor: str, username: str, display_name: str, email: str, role: Role,
                groups: Iterable[str], password: str, now: dt.datetime) -> User:
    """A new agent or admin who can sign in at once with ``password``."""
    user = people.add_user(session=session, username=username, display_name=display_name, email=email, role=role,
                           groups=groups)
    accounts.set_password(session=session, username=username, password=password)
    record(session=session, actor=actor, action=AdminAction.USER_CREATED, target=username, now=now,
           new=f"{role.value}; {user.email}; groups: {_groups_text(user) or 'none'}")
    return user


def set_user_active(*, session: Session, actor: str, username: str, active: bool, now: dt.datetime) -> User:
    old = people.get_user(session=session, username=username).active
    user = people.set_active(session=session, username=username, active=active)
    _changed(session, actor, AdminAction.USER_ACTIVE, username, str(old).lower(), str(active).lower(), now)
    return user


def reset_password(*, session: Session, actor: str, username: str, password: str, now: dt.datetime) -> User:
    """A new password (argon2id); the audit says that it changed, never what it is."""
    user = accounts.set_password(session=session, username=username, password=password)
    record(session=session, actor=actor, action=AdminAction.USER_PASSWORD, target=username, now=now, new="reset")
    return user


def set_user_role(*, session: Session, actor: str, username: str, role: Role, now: dt.datetime) -> User:
    old = people.get_user(session=session, username=username).role
    user = people.set_role(session=session, username=username, role=role)
    _changed(session, actor, AdminAction.USER_ROLE, username, old.value, role.value, now)
    return user


def set_user_groups(*, session: Session, actor: str, username: str, groups: Iterable[str],
                    now: dt.datetime) -> User:
    old = _groups_text(people.get_user(session=session, username=username))
    user = people.set_groups(session=session, username=username, groups=groups)
    _changed(session, actor, AdminAction.USER_GROUPS, username, old, _groups_text(user), now)
    return user


# --- groups -----------------------------------------------------------------------------------------------------


def _calendar_text(group: Group) -> str:
    holidays = ", ".join(h.day.isoformat() for h in group.holidays) or "none"
    return f"{group.timezone}; {group.working_hours}; holidays: {holidays}"


def _notices_text(group: Group) -> str:
    return ", ".join(f"{channel} {address}" for channel, address in people.notice_targets_of(group).items())


def create_group(*, session: Session, actor: str, name: str, timezone: str, working_hours: str,
                 holidays: Iterable[dt.date], notice_targets: Mapping[str, str], now: dt.datetime) -> Group:
    group = people.add_group(session=session, name=name, timezone=timezone, working_hours=working_hours,
                             holidays=holidays, notice_targets=notice_targets)
    notices = _notices_text(group)
    record(session=session, actor=actor, action=AdminAction.GROUP_CREATED, target=group.name, now=now,
           new=_calendar_text(group) + (f"; notices: {notices}" if notices else ""))
    return group


def update_group(*, session: Session, actor: str, name: str, now: dt.datetime, timezone: str | None = None,
                 working_hours: str | None = None, holidays: Iterable[dt.date] | None = None,
                 notice_targets: Mapping[str, str | None] | None = None) -> Group:
    """The group's calendar and notice targets: only what is given changes (see ``people.update_group`` and
    ``people.set_group_notifications``)."""
    group = people.get_group(session=session, name=name)
    calendar, notices = _calendar_text(group), _notices_text(group)
    people.update_group(session=session, name=name, timezone=timezone, working_hours=working_hours,
                        holidays=holidays)
    if notice_targets is not None:
        people.set_group_notifications(session=session, name=name, targets=notice_targets)
    _changed(session, actor, AdminAction.GROUP_CALENDAR, group.name, calendar, _calendar_text(group), now)
    _changed(session, actor, AdminAction.GROUP_NOTICES, group.name, notices, _notices_text(group), now)
    return group


# --- routing and SLA --------------------------------------------------------------------------------------------


def _rule_text(rule: RoutingRule | None) -> str | None:
    if rule is None:
        return None
    return f"{rule.group.name}; {rule.ticket_type.value}; urgency {Level(rule.urgency).name.lower()}"


def set_routing_rule(*, session: Session, actor: str, intent: str, group: str, ticket_type: TicketType,
                     urgency: Level, now: dt.datetime, taxonomy: Taxonomy | None = None) -> RoutingRule:
    """Where tickets of ``intent`` go; ``UnknownIntent`` unless the taxonomy (default: the packaged one) routes it."""
    (taxonomy or packaged_taxonomy()).routable(intent)
    old = _rule_text(routing.rule_for(session=session, intent=intent))
    rule = routing.set_rule(session=session, intent=intent, group=group, ticket_type=ticket_type, urgency=urgency)
    new = _rule_text(rule)
    if old != new:
        record(session=session, actor=actor, action=AdminAction.ROUTING_RULE, target=intent, old=old, new=new,
               now=now)
    return rule


def _policy_text(policy: SlaPolicy | None) -> str | None:
    if policy is None:
        return None
    clock = "around the clock" if policy.around_the_clock else "business hours"
    return f"first response {policy.first_response_minutes} min; resolution {policy.resolution_minutes} min; {clock}"


def set_sla_policy(*, session: Session, actor: str, priority: Priority, first_response_minutes: int,
                   resolution_minutes: int, around_the_clock: bool, now: dt.datetime) -> SlaPolicy:
    """The targets of ``priority``: tickets given a priority from now on get them."""
    if not 0 < first_response_minutes <= resolution_minutes:
        raise DeskError("the first response target must be positive and at most the resolution target")
    old = _policy_text(session.get(SlaPolicy, priority))
    policy = sla.set_policy(session=session, priority=priority, first_response_minutes=first_response_minutes,
                            resolution_minutes=resolution_minutes, around_the_clock=around_the_clock)
    new = _policy_text(policy)
    if old != new:
        record(session=session, actor=actor, action=AdminAction.SLA_POLICY, target=priority.value, old=old, new=new,
               now=now)
    return policy


# --- dead letters -----------------------------------------------------------------------------------------------


def retry_inbound(*, session: Session, actor: str, row_id: int, now: dt.datetime) -> InboxRow:
    """A failed inbound message back to the workers."""
    row = queue.retry_inbound(session=session, row_id=row_id, now=now)
    record(session=session, actor=actor, action=AdminAction.INBOX_RETRY, target=str(row_id), now=now,
           old=row.error, new=row.status.value)
    return row


def retry_outbound(*, session: Session, actor: str, row_id: int, now: dt.datetime) -> OutboxRow:
    """A failed reply back to the dispatcher."""
    row = queue.retry_outbound(session=session, row_id=row_id, now=now)
    record(session=session, actor=actor, action=AdminAction.OUTBOX_RETRY, target=str(row_id), now=now,
           old=row.error, new=row.status.value)
    return row
