"""``/api/v1/admin``: users, groups with their calendars and notice targets, routing rules, SLA policies, and the
admin audit.

Inside the admin router (``require_admin`` has run). Every change is a ``desk.administration`` call in the signed-in
admin's name, which records it in the admin audit.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from bot.web.auth import Principal, signed_in
from bot.web.errors import ApiError, ErrorCode
from desk import Level, Priority, Role, TicketType, UnitOfWork, administration, people, routing, sla
from desk.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from desk.domain import AdminAction
from desk.taxonomy import UnknownIntent

if TYPE_CHECKING:
    from desk.models import AdminAuditEntry, Group, RoutingRule, SlaPolicy, User

Admin = Annotated[Principal, Depends(signed_in)]
USERNAME = r"^[A-Za-z0-9._-]+$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserOut(BaseModel):
    username: str
    name: str
    email: str
    role: Role
    groups: list[str]
    active: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(username=user.username, name=user.display_name, email=user.email, role=user.role,
                   groups=sorted(g.name for g in user.groups), active=user.active)


class Password(_Body):
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


class NewUser(Password):
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, description="the work address (the desk checks it)")
    role: Role = Role.AGENT
    groups: list[str] = []


class RoleBody(_Body):
    role: Role


class GroupsBody(_Body):
    groups: list[str]


class GroupOut(BaseModel):
    name: str
    timezone: str
    working_hours: str
    holidays: list[dt.date]
    notice_targets: dict[str, str]  # channel -> address (a Slack channel id, a mailbox)
    members: list[str]  # usernames

    @classmethod
    def of(cls, group: Group) -> GroupOut:
        return cls(name=group.name, timezone=group.timezone, working_hours=group.working_hours,
                   holidays=[h.day for h in group.holidays], notice_targets=people.notice_targets_of(group),
                   members=sorted(u.username for u in group.members))


_HOURS = "e.g. 'mon-fri 08:30-12:00,13:00-17:30'"
_ZONE = "an IANA time zone, e.g. Europe/Paris"


class NewGroup(_Body):
    name: str = Field(min_length=1, max_length=120)
    timezone: str = Field("UTC", description=_ZONE, max_length=64)
    working_hours: str = Field("mon-fri 09:00-17:00", description=_HOURS, max_length=200)
    holidays: list[dt.date] = []
    notice_targets: dict[str, str] = {}


class GroupChange(_Body):
    """Only what is given changes; ``holidays`` replaces the list; a notice target set to null or '' goes."""

    timezone: str | None = Field(None, description=_ZONE, max_length=64)
    working_hours: str | None = Field(None, description=_HOURS, max_length=200)
    holidays: list[dt.date] | None = None
    notice_targets: dict[str, str | None] | None = None


class RuleOut(BaseModel):
    intent: str
    group: str
    ticket_type: TicketType
    urgency: Level  # 1 high, 2 medium, 3 low

    @classmethod
    def of(cls, rule: RoutingRule) -> RuleOut:
        return cls(intent=rule.intent, group=rule.group.name, ticket_type=rule.ticket_type, urgency=Level(rule.urgency))


class RuleBody(_Body):
    group: str = Field(min_length=1, max_length=120)
    ticket_type: TicketType = TicketType.INCIDENT
    urgency: Level = Level.MEDIUM


class SlaOut(BaseModel):
    priority: Priority
    first_response_minutes: int  # business minutes of the ticket group's calendar, unless around the clock
    resolution_minutes: int
    around_the_clock: bool

    @classmethod
    def of(cls, policy: SlaPolicy) -> SlaOut:
        return cls(priority=policy.priority, first_response_minutes=policy.first_response_minutes,
                   resolution_minutes=policy.resolution_minutes, around_the_clock=policy.around_the_clock)


class SlaBody(_Body):
    first_response_minutes: int = Field(gt=0, le=525_600)
    resolution_minutes: int = Field(gt=0, le=525_600)
    around_the_clock: bool = False


class AdminAuditOut(BaseModel):
    actor: str
    action: AdminAction
    target: str
    old: str | None
    new: str | None
    at: dt.datetime

    @classmethod
    def of(cls, entry: AdminAuditEntry) -> AdminAuditOut:
        return cls(actor=entry.actor, action=entry.action, target=entry.target, old=entry.old, new=entry.new,
                   at=entry.at)


def people_router(*, uow: UnitOfWork) -> APIRouter:
    router = APIRouter()

    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    @router.get("/users", response_model=list[UserOut])
    def users() -> list[UserOut]:
        """Every agent and admin."""
        with uow() as session:
            return [UserOut.of(u) for u in people.list_users(session=session)]

    @router.post("/users", response_model=UserOut, status_code=201)
    def create_user(body: NewUser, admin: Admin) -> UserOut:
        """A new agent or admin, who signs in with ``password`` (at least 12 characters) at once."""
        with uow() as session:
            return UserOut.of(administration.create_user(
                session=session, actor=admin.actor, username=body.username, display_name=body.name,
                email=body.email, role=body.role, groups=body.groups, password=body.password, now=now()))

    @router.post("/users/{username}/deactivate", response_model=UserOut)
    def deactivate(username: str, admin: Admin) -> UserOut:
        """From the next request on, the user's sessions and API tokens are refused (the last admin stays)."""
        with uow() as session:
            return UserOut.of(administration.set_user_active(session=session, actor=admin.actor, username=username,
                                                             active=False, now=now()))

    @router.post("/users/{username}/reactivate", response_model=UserOut)
    def reactivate(username: str, admin: Admin) -> UserOut:
        with uow() as session:
            return UserOut.of(administration.set_user_active(session=session, actor=admin.actor, username=username,
                                                             active=True, now=now()))

    @router.post("/users/{username}/password", status_code=204)
    def reset_password(username: str, body: Password, admin: Admin) -> None:
        """A new password (stored as an argon2id hash); the audit records that it changed, never what it is."""
        with uow() as session:
            administration.reset_password(session=session, actor=admin.actor, username=username,
                                          password=body.password, now=now())

    @router.post("/users/{username}/role", response_model=UserOut)
    def set_role(username: str, body: RoleBody, admin: Admin) -> UserOut:
        with uow() as session:
            return UserOut.of(administration.set_user_role(session=session, actor=admin.actor, username=username,
                                                           role=body.role, now=now()))

    @router.post("/users/{username}/groups", response_model=UserOut)
    def set_groups(username: str, body: GroupsBody, admin: Admin) -> UserOut:
        """The user's groups, exactly these."""
        with uow() as session:
            return UserOut.of(administration.set_user_groups(session=session, actor=admin.actor, username=username,
                                                             groups=body.groups, now=now()))

    @router.get("/groups", response_model=list[GroupOut])
    def groups() -> list[GroupOut]:
        """Every group with its business-hours calendar, notice targets and members."""
        with uow() as session:
            return [GroupOut.of(g) for g in people.list_groups(session=session)]

    @router.post("/groups", response_model=GroupOut, status_code=201)
    def create_group(body: NewGroup, admin: Admin) -> GroupOut:
        with uow() as session:
            return GroupOut.of(administration.create_group(
                session=session, actor=admin.actor, name=body.name, timezone=body.timezone,
                working_hours=body.working_hours, holidays=body.holidays, notice_targets=body.notice_targets,
                now=now()))

    @router.patch("/groups/{name}", response_model=GroupOut)
    def update_group(name: str, body: GroupChange, admin: Admin) -> GroupOut:
        """The group's calendar (new tickets count in it) and where it hears of tickets."""
        with uow() as session:
            return GroupOut.of(administration.update_group(
                session=session, actor=admin.actor, name=name, timezone=body.timezone,
                working_hours=body.working_hours, holidays=body.holidays, notice_targets=body.notice_targets,
                now=now()))

    @router.get("/routing", response_model=list[RuleOut])
    def rules() -> list[RuleOut]:
        """Which group each intent's tickets go to, as what type, with what urgency."""
        with uow() as session:
            return [RuleOut.of(r) for r in routing.list_rules(session=session)]

    @router.put("/routing/{intent}", response_model=RuleOut)
    def set_rule(intent: str, body: RuleBody, admin: Admin) -> RuleOut:
        """Route ``intent`` (an intent of the taxonomy that opens tickets)."""
        with uow() as session:
            try:
                rule = administration.set_routing_rule(session=session, actor=admin.actor, intent=intent,
                                                       group=body.group, ticket_type=body.ticket_type,
                                                       urgency=body.urgency, now=now())
            except UnknownIntent as exc:
                raise ApiError(422, ErrorCode.INVALID_REQUEST, f"path.intent: {exc}") from exc
            return RuleOut.of(rule)

    @router.get("/sla", response_model=list[SlaOut])
    def policies() -> list[SlaOut]:
        """The SLA targets of each priority."""
        with uow() as session:
            return [SlaOut.of(p) for p in sla.list_policies(session=session)]

    @router.put("/sla/{priority}", response_model=SlaOut)
    def set_policy(priority: Priority, body: SlaBody, admin: Admin) -> SlaOut:
        """The targets of ``priority`` for tickets given it from now on."""
        with uow() as session:
            return SlaOut.of(administration.set_sla_policy(
                session=session, actor=admin.actor, priority=priority, first_response_minutes=body.first_response_minutes,
                resolution_minutes=body.resolution_minutes, around_the_clock=body.around_the_clock, now=now()))

    @router.get("/audit", response_model=list[AdminAuditOut])
    def audit() -> list[AdminAuditOut]:
        """The latest admin changes, newest first, with the admin who made each."""
        with uow() as session:
            return [AdminAuditOut.of(e) for e in administration.admin_log(session=session)]

    return router
