"""The admin pages of users and groups: ``/console/admin/users`` and ``/console/admin/groups``.

Each form is validated by the API's body (``bot.web.admin_people``) and made by the same ``desk.administration``
function as ``/api/v1/admin``, in the signed-in admin's name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from bot.console._admin_forms import (
    NOTHING_POSTED,
    Admin,
    AdminRoute,
    Posted,
    Refusal,
    Section,
    admin_page,
    attempt,
)
from bot.console._pages import PREFIX
from bot.web.admin_people import (
    AdminAuditOut,
    GroupChange,
    GroupOut,
    GroupsBody,
    NewGroup,
    NewUser,
    Password,
    RoleBody,
    UserOut,
)
from bot.web.auth import Principal
from desk import NotFound, Role, UnitOfWork, accounts, administration, people
from desk.domain import AdminAction

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

USERS = f"{PREFIX}/admin/users"
GROUPS = f"{PREFIX}/admin/groups"
_USER_ACTIONS = frozenset({AdminAction.USER_CREATED, AdminAction.USER_ACTIVE, AdminAction.USER_PASSWORD,
                           AdminAction.USER_ROLE, AdminAction.USER_GROUPS})
_GROUP_ACTIONS = frozenset({AdminAction.GROUP_CREATED, AdminAction.GROUP_CALENDAR, AdminAction.GROUP_NOTICES})
_HOLIDAY_SEPARATORS = re.compile(r"[\s,;]+")
UserChange = Callable[["Session", Principal, str, Posted], None]  # what one of a user's forms does
GroupEdit = Callable[[GroupOut, Posted], GroupChange]  # one of a group's forms as the API's change of the group


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _changes_of(session: Session, target: str, actions: frozenset[AdminAction]) -> list[AdminAuditOut]:
    """The admin audit's latest entries about one user or group."""
    return [AdminAuditOut.of(e) for e in administration.admin_log(session=session)
            if e.target == target and e.action in actions]


def _notice_targets(posted: Posted) -> dict[str, str | None]:
    """The form's Slack channel and mailbox as the API's notice targets (an empty one removes that target)."""
    return {"slack": posted.value("slack") or None, "email": posted.value("email") or None}


def people_pages(*, uow: UnitOfWork) -> APIRouter:
    router = APIRouter(route_class=AdminRoute)

    # --- users --------------------------------------------------------------------------------------------

    def users_page(request: Request, principal: Principal, *, refusal: Refusal | None = None,
                   entered: Posted = NOTHING_POSTED) -> Response:
        with uow() as session:
            users = [UserOut.of(u) for u in people.list_users(session=session)]
            groups = [g.name for g in people.list_groups(session=session)]
            signed_in = accounts.last_sign_ins(session=session)
        return admin_page(request, "admin_users.html", principal=principal, section=Section.USERS, users=users,
                          groups=groups, roles=list(Role), last_sign_ins=signed_in, refusal=refusal,
                          entered=entered)

    def user_page(request: Request, principal: Principal, username: str, *, refusal: Refusal | None = None,
                  entered: Posted = NOTHING_POSTED) -> Response:
        with uow() as session:
            user = UserOut.of(people.get_user(session=session, username=username))
            groups = [g.name for g in people.list_groups(session=session)]
            signed_in = accounts.last_sign_ins(session=session).get(username)
            changes = _changes_of(session, username, _USER_ACTIONS)
        return admin_page(request, "admin_user.html", principal=principal, section=Section.USERS, user=user,
                          groups=groups, roles=list(Role), last_sign_in=signed_in, changes=changes, refusal=refusal,
                          entered=entered)

    @router.get("/users")
    def users(request: Request, principal: Admin) -> Response:
        return users_page(request, principal)

    @router.post("/users")
    async def create_user(request: Request, principal: Admin) -> Response:
        posted = await Posted.of(request)

        def create(session: Session) -> None:
            body = NewUser.model_validate({**posted.given("username", "name", "email", "role"),
                                           "password": posted.value("password", trim=False),
                                           "groups": posted.values("groups")})
            administration.create_user(session=session, actor=principal.actor, username=body.username,
                                       display_name=body.name, email=body.email, role=body.role, groups=body.groups,
                                       password=body.password, now=_now())

        refusal = await run_in_threadpool(attempt, uow, create)
        if refusal is not None:
            return await run_in_threadpool(users_page, request, principal, refusal=refusal, entered=posted)
        return RedirectResponse(f"{USERS}/{posted.value('username')}", status_code=303)

    @router.get("/users/{username}")
    def user(request: Request, username: str, principal: Admin) -> Response:
        return user_page(request, principal, username)

    async def change_user(request: Request, principal: Principal, username: str, change: UserChange) -> Response:
        posted = await Posted.of(request)
        refusal = await run_in_threadpool(attempt, uow, lambda session: change(session, principal, username, posted))
        if refusal is not None:
            return await run_in_threadpool(user_page, request, principal, username, refusal=refusal, entered=posted)
        return RedirectResponse(f"{USERS}/{username}", status_code=303)

    @router.post("/users/{username}/{change}")
    async def change_user_form(request: Request, username: str, change: str, principal: Admin) -> Response:
        found = _USER_CHANGES.get(change)
        if found is None:
            raise NotFound(f"there is no change {change!r} of a user")
        return await change_user(request, principal, username, found)

    # --- groups -------------------------------------------------------------------------------------------

    def groups_page(request: Request, principal: Principal, *, refusal: Refusal | None = None,
                    entered: Posted = NOTHING_POSTED) -> Response:
        with uow() as session:
            groups = [GroupOut.of(g) for g in people.list_groups(session=session)]
        return admin_page(request, "admin_groups.html", principal=principal, section=Section.GROUPS, groups=groups,
                          refusal=refusal, entered=entered)

    def group_page(request: Request, principal: Principal, name: str, *, refusal: Refusal | None = None,
                   entered: Posted = NOTHING_POSTED) -> Response:
        with uow() as session:
            group = GroupOut.of(people.get_group(session=session, name=name))
            changes = _changes_of(session, group.name, _GROUP_ACTIONS)
        return admin_page(request, "admin_group.html", principal=principal, section=Section.GROUPS, group=group,
                          changes=changes, refusal=refusal, entered=entered)

    @router.get("/groups")
    def groups(request: Request, principal: Admin) -> Response:
        return groups_page(request, principal)

    @router.post("/groups")
    async def create_group(request: Request, principal: Admin) -> Response:
        posted = await Posted.of(request)

        def create(session: Session) -> None:
            holidays = [day for day in _HOLIDAY_SEPARATORS.split(posted.value("holidays")) if day]
            targets = {k: v for k, v in _notice_targets(posted).items() if v}
            body = NewGroup.model_validate({**posted.given("name", "timezone", "working_hours"),
                                            "holidays": holidays, "notice_targets": targets})
            administration.create_group(session=session, actor=principal.actor, name=body.name,
                                        timezone=body.timezone, working_hours=body.working_hours,
                                        holidays=body.holidays, notice_targets=body.notice_targets, now=_now())

        refusal = await run_in_threadpool(attempt, uow, create)
        if refusal is not None:
            return await run_in_threadpool(groups_page, request, principal, refusal=refusal, entered=posted)
        return RedirectResponse(GROUPS, status_code=303)

    @router.get("/groups/{name:path}")
    def group(request: Request, name: str, principal: Admin) -> Response:
        return group_page(request, principal, name)

    async def change_group(request: Request, principal: Principal, name: str, change: GroupEdit) -> Response:
        posted = await Posted.of(request)

        def run(session: Session) -> None:
            body = change(GroupOut.of(people.get_group(session=session, name=name)), posted)
            administration.update_group(session=session, actor=principal.actor, name=name, timezone=body.timezone,
                                        working_hours=body.working_hours, holidays=body.holidays,
                                        notice_targets=body.notice_targets, now=_now())

        refusal = await run_in_threadpool(attempt, uow, run)
        if refusal is not None:
            return await run_in_threadpool(group_page, request, principal, name, refusal=refusal, entered=posted)
        return RedirectResponse(f"{GROUPS}/{quote(name, safe='')}", status_code=303)

    @router.post("/groups/{name:path}/calendar")
    async def set_calendar(request: Request, name: str, principal: Admin) -> Response:
        return await change_group(request, principal, name, lambda _, posted: GroupChange.model_validate(
            {"timezone": posted.value("timezone"), "working_hours": posted.value("working_hours")}))

    @router.post("/groups/{name:path}/holidays")
    async def add_holiday(request: Request, name: str, principal: Admin) -> Response:
        return await change_group(request, principal, name, lambda group, posted: GroupChange.model_validate(
            {"holidays": [*group.holidays, posted.value("day")]}))

    @router.post("/groups/{name:path}/holidays/remove")
    async def remove_holiday(request: Request, name: str, principal: Admin) -> Response:
        return await change_group(request, principal, name, lambda group, posted: GroupChange.model_validate(
            {"holidays": [d for d in group.holidays if d.isoformat() != posted.value("day")]}))

    @router.post("/groups/{name:path}/notices")
    async def set_notices(request: Request, name: str, principal: Admin) -> Response:
        return await change_group(request, principal, name, lambda _, posted: GroupChange.model_validate(
            {"notice_targets": _notice_targets(posted)}))

    return router


# --- a user's changes: the API's body from the form, then the desk's function -----------------------------------


def _deactivate(session: Session, principal: Principal, username: str, posted: Posted) -> None:
    administration.set_user_active(session=session, actor=principal.actor, username=username, active=False,
                                   now=_now())


def _reactivate(session: Session, principal: Principal, username: str, posted: Posted) -> None:
    administration.set_user_active(session=session, actor=principal.actor, username=username, active=True,
                                   now=_now())


def _reset_password(session: Session, principal: Principal, username: str, posted: Posted) -> None:
    body = Password.model_validate({"password": posted.value("password", trim=False)})
    administration.reset_password(session=session, actor=principal.actor, username=username, password=body.password,
                                  now=_now())


def _set_role(session: Session, principal: Principal, username: str, posted: Posted) -> None:
    body = RoleBody.model_validate({"role": posted.value("role")})
    administration.set_user_role(session=session, actor=principal.actor, username=username, role=body.role,
                                 now=_now())


def _set_groups(session: Session, principal: Principal, username: str, posted: Posted) -> None:
    body = GroupsBody.model_validate({"groups": posted.values("groups")})
    administration.set_user_groups(session=session, actor=principal.actor, username=username, groups=body.groups,
                                   now=_now())


_USER_CHANGES: dict[str, UserChange] = {"deactivate": _deactivate, "reactivate": _reactivate,
                                        "password": _reset_password, "role": _set_role, "groups": _set_groups}
