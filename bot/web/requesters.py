"""``/api/v1/requesters``: find a requester; one requester with their channel identities and ticket history.

Any signed-in agent may find a requester (a person, not ticket data). Their ticket history holds only the
tickets the caller may see (``desk.ticket_queries``' visibility: an agent's groups, the triage queue and their
own), and its count counts only those, so another group's tickets do not leak even as a number.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from bot.web.auth import Principal, signed_in
from bot.web.errors import ApiError, ErrorCode
from bot.web.ticket_models import DEFAULT_PAGE, TicketSummary
from bot.web.tickets import viewer_of
from desk import UnitOfWork, requester_queries, ticket_queries
from desk.requester_queries import RequesterPosition
from desk.ticket_queries import MAX_PAGE

if TYPE_CHECKING:
    from desk.models import Identity, Requester

SignedIn = Annotated[Principal, Depends(signed_in)]
HISTORY = MAX_PAGE  # the newest tickets a requester's detail lists; ticket_count says how many there are


class RequesterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt parameter is a 422, not a silently wider list

    q: str | None = Field(None, max_length=200,
                          description="text in the name or email, or in a channel identity's id, name or email")
    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, max_length=400, description="next_cursor of the previous page")


class IdentityOut(BaseModel):
    channel: str
    external_id: str  # how the channel knows them: an email address, a Slack user id, a Telegram user id...
    name: str
    email: str | None
    verified: bool  # the email was verified (DESIGN.md: who is who); only a verified one links channels
    created: dt.datetime

    @classmethod
    def of(cls, identity: Identity) -> IdentityOut:
        return cls(channel=identity.channel, external_id=identity.external_id, name=identity.display_name,
                   email=identity.email, verified=identity.email_verified, created=identity.created_at)


class RequesterSummary(BaseModel):
    id: int
    name: str
    email: str | None  # set only from a verified identity
    channels: list[str]  # the channels they wrote from
    created: dt.datetime

    @classmethod
    def of(cls, requester: Requester) -> RequesterSummary:
        return cls(id=requester.id, name=requester.display_name, email=requester.email,
                   channels=sorted({i.channel for i in requester.identities}), created=requester.created_at)


class RequesterPage(BaseModel):
    items: list[RequesterSummary]
    next_cursor: str | None  # None: the last page


class RequesterDetail(RequesterSummary):
    identities: list[IdentityOut]
    ticket_count: int  # the tickets of theirs the caller may see
    tickets: list[TicketSummary]  # the newest of those (at most HISTORY), newest first


def encode_cursor(position: RequesterPosition) -> str:
    raw = json.dumps({"name": position.name, "id": position.requester_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> RequesterPosition | None:
    """The position a cursor of ours encodes; None for anything else."""
    try:
        fields = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        name, requester_id = fields["name"], fields["id"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    if not isinstance(name, str) or not isinstance(requester_id, int):
        return None
    return RequesterPosition(name, requester_id)


def requesters_router(*, uow: UnitOfWork) -> APIRouter:
    router = APIRouter(prefix="/requesters", tags=["requesters"])

    @router.get("", response_model=RequesterPage)
    def search(query: Annotated[RequesterQuery, Query()]) -> RequesterPage:
        """Requesters by name (any case); with ``q``, those it matches. Follow ``next_cursor`` for the next page."""
        after = None
        if query.cursor is not None:
            after = decode_cursor(query.cursor)
            if after is None:
                raise ApiError(422, ErrorCode.INVALID_REQUEST, "query.cursor: not a cursor this API handed out")
        with uow() as session:
            page = requester_queries.search_requesters(session=session, text=query.q, after=after, limit=query.limit)
            return RequesterPage(items=[RequesterSummary.of(r) for r in page.requesters],
                                 next_cursor=encode_cursor(page.next) if page.next else None)

    @router.get("/{requester_id}", response_model=RequesterDetail)
    def detail(requester_id: int, principal: SignedIn) -> RequesterDetail:
        """The requester, every channel identity of theirs, and their tickets that the caller may see."""
        viewer = viewer_of(principal)
        with uow() as session:
            requester = requester_queries.get_requester(session=session, requester_id=requester_id)
            history = ticket_queries.tickets_of_requester(session=session, requester_id=requester.id, viewer=viewer,
                                                          limit=HISTORY)
            return RequesterDetail(
                **RequesterSummary.of(requester).model_dump(),
                identities=[IdentityOut.of(i) for i in sorted(requester.identities, key=lambda i: i.id)],
                ticket_count=requester_queries.visible_ticket_count(session=session, requester_id=requester.id,
                                                                    viewer=viewer),
                tickets=[TicketSummary.of(t) for t in history])

    return router
