"""Requesters and their channel identities; agents, admins and groups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from desk.business_hours import BusinessCalendar
from desk.domain import DeskError, NotFound, Role
from desk.models import Conversation, Group, Holiday, Identity, NoticeTarget, Requester, Ticket, User


def normalise_email(email: str | None) -> str | None:
    if email is None:
        return None
    email = email.strip().lower()
    return email or None


# built once (see desk._base)
_IDENTITY = select(Identity).where(Identity.channel == bindparam("channel"),
                                   Identity.external_id == bindparam("external_id"))
_LOCK_REQUESTER = select(Requester.id).where(Requester.id == bindparam("requester_id")).with_for_update()


def resolve_requester(
    *,
    session: Session,
    channel: str,
    external_id: str,
    display_name: str = "",
    email: str | None = None,
    email_verified: bool = False,
) -> Requester:
    """The requester behind a channel identity, creating or linking records as needed.

    Identities are joined across channels only through a *verified* email: an address a
    visitor merely typed never gives access to someone else's tickets.
    """
    email = normalise_email(email)
    identity = session.scalar(_IDENTITY, {"channel": channel, "external_id": external_id})
    if identity is not None:
        if display_name and identity.display_name != display_name:
            identity.display_name = display_name
        if email and email_verified and not identity.email_verified:
            identity.email, identity.email_verified = email, True
            _merge_into_verified_owner(session=session, identity=identity, email=email)
        return identity.requester

    requester = None
    if email and email_verified:
        requester = session.scalar(select(Requester).where(Requester.email == email))
    if requester is None:
        requester = Requester(
            display_name=display_name or email or external_id,
            email=email if email_verified else None,
        )
        session.add(requester)
    session.add(
        Identity(
            requester=requester,
            channel=channel,
            external_id=external_id,
            display_name=display_name,
            email=email,
            email_verified=bool(email and email_verified),
        )
    )
    session.flush()
    return requester


def _merge_into_verified_owner(*, session: Session, identity: Identity, email: str) -> None:
    owner = session.scalar(select(Requester).where(Requester.email == email))
    if owner is None:
        identity.requester.email = email
    elif owner.id != identity.requester_id:
        previous = identity.requester
        identity.requester = owner
        session.flush()
        if not session.scalar(select(func.count()).select_from(Identity).where(Identity.requester_id == previous.id)):
            # The unverified record was only ever this person: their history joins the verified one.
            for model in (Ticket, Conversation):
                session.execute(
                    update(model).where(model.requester_id == previous.id).values(requester_id=owner.id)
                )
            session.delete(previous)
    session.flush()


# --- agents and groups -------------------------------------------------------------


def add_group(
    *,
    session: Session,
    name: str,
    timezone: str = "UTC",
    working_hours: str = "mon-fri 09:00-17:00",
    holidays: Iterable[dt.date] = (),
    notice_targets: Mapping[str, str] | None = None,
) -> Group:
    if session.scalar(select(Group).where(func.lower(Group.name) == name.lower())) is not None:
        raise DeskError(f"a group named {name!r} already exists")
    group = Group(name=name, timezone=timezone, working_hours=working_hours)
    group.holidays = [Holiday(day=day) for day in sorted(set(holidays))]
    group.notice_targets = [NoticeTarget(channel=c, address=a.strip()) for c, a in (notice_targets or {}).items()
                            if a and a.strip()]
    calendar_for(group)  # refuse a bad time zone or hours spec before it is stored
    session.add(group)
    session.flush()
    return group


def get_group(*, session: Session, name: str) -> Group:
    group = session.scalar(select(Group).where(func.lower(Group.name) == name.lower()))
    if group is None:
        known = ", ".join(session.scalars(select(Group.name).order_by(Group.name))) or "none yet"
        raise NotFound(f"no group named {name!r} (groups: {known})")
    return group


def list_groups(*, session: Session) -> Sequence[Group]:
    return session.scalars(select(Group).order_by(Group.name)).all()


def calendar_for(group: Group | None) -> BusinessCalendar:
    if group is None:
        return BusinessCalendar.always_open()
    try:
        return BusinessCalendar(
            timezone=group.timezone,
            working_hours=BusinessCalendar.parse_hours(group.working_hours),
            holidays=frozenset(h.day for h in group.holidays),
        )
    except ValueError as exc:
        raise DeskError(f"group {group.name!r} has an invalid calendar: {exc}") from exc


def add_user(
    *,
    session: Session,
    username: str,
    display_name: str,
    email: str,
    role: Role = Role.AGENT,
    groups: Iterable[str] = (),
) -> User:
    email = normalise_email(email) or ""
    if not email or "@" not in email:
        raise DeskError(f"{email!r} is not an email address")
    clash = session.scalar(select(User).where((User.username == username) | (User.email == email)))
    if clash is not None:
        raise DeskError(f"a user with username {username!r} or email {email!r} already exists")
    user = User(username=username, display_name=display_name, email=email, role=role)
    user.groups = [get_group(session=session, name=name) for name in groups]
    session.add(user)
    session.flush()
    return user


def get_user(*, session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no agent or admin with username {username!r}")
    return user


def find_user_by_email(*, session: Session, email: str | None) -> User | None:
    """The active agent or admin with this work email, if any (how a Slack user is known as an agent)."""
    email = normalise_email(email)
    if email is None:
        return None
    return session.scalar(select(User).where(User.email == email, User.active.is_(True)))


def set_group_notifications(*, session: Session, name: str, targets: Mapping[str, str | None],
                            clear: bool = False) -> Group:
    """Where the group hears of tickets, by channel: ``{"slack": "C0123", "email": "team@corp.example"}``. Only the
    given channels change (an empty address removes one); ``clear`` removes every target first."""
    group = get_group(session=session, name=name)
    current = {t.channel: t for t in group.notice_targets}
    if clear:
        group.notice_targets = []
        current = {}
        session.flush()
    for channel, address in targets.items():
        address = (address or "").strip()
        target = current.get(channel)
        if not address:
            if target is not None:
                group.notice_targets.remove(target)
        elif target is not None:
            target.address = address
        else:
            group.notice_targets.append(NoticeTarget(channel=channel, address=address))
    session.flush()
    return group


def notice_targets_of(group: Group) -> dict[str, str]:
    """The group's notice addresses by channel."""
    return {t.channel: t.address for t in group.notice_targets}


def list_users(*, session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.username)).all()


def update_group(*, session: Session, name: str, timezone: str | None = None, working_hours: str | None = None,
                 holidays: Iterable[dt.date] | None = None) -> Group:
    """A group's calendar: only what is given changes (``holidays`` replaces the whole list). Tickets already open
    keep the due times they were given; new ones count in the new calendar."""
    group = get_group(session=session, name=name)
    if timezone is not None:
        group.timezone = timezone
    if working_hours is not None:
        group.working_hours = working_hours
    if holidays is not None:
        wanted = set(holidays)
        kept = [h for h in group.holidays if h.day in wanted]  # (an existing holiday keeps its name)
        added = [Holiday(day=day) for day in wanted - {h.day for h in kept}]
        group.holidays = sorted(kept + added, key=lambda h: h.day)
    calendar_for(group)  # refuse a bad time zone or hours spec: the caller's transaction rolls back
    session.flush()
    return group


def set_active(*, session: Session, username: str, active: bool) -> User:
    """Deactivate (signs in no more: every session and token of theirs is refused) or reactivate a user."""
    user = get_user(session=session, username=username)
    if not active:
        _keep_an_admin(session, user)
    user.active = active
    session.flush()
    return user


def set_role(*, session: Session, username: str, role: Role) -> User:
    user = get_user(session=session, username=username)
    if role is not Role.ADMIN:
        _keep_an_admin(session, user)
    user.role = role
    session.flush()
    return user


def set_groups(*, session: Session, username: str, groups: Iterable[str]) -> User:
    """The user's groups, exactly ``groups`` (each must exist)."""
    user = get_user(session=session, username=username)
    user.groups = [get_group(session=session, name=name) for name in dict.fromkeys(groups)]
    session.flush()
    return user


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse to take away the last active admin: nobody could then manage users or undo it."""
    if user.role is not Role.ADMIN or not user.active:
        return
    others = session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN, User.active.is_(True), User.id != user.id))
    if not others:
        raise DeskError(f"{user.username} is the last active admin: make another user admin first")


def set_availability(*, session: Session, username: str, available: bool) -> User:
    user = get_user(session=session, username=username)
    user.available = available
    return user


def lock_requester(*, session: Session, requester_id: int) -> None:
    """Hold the requester's row until the transaction ends (PostgreSQL; SQLite has one writer anyway), so two
    workers handling mail from one person at once take turns: a per-person count read after it stays true."""
    session.execute(_LOCK_REQUESTER, {"requester_id": requester_id})
