"""The chat channels' sessions in the desk (``bot.conversation.ChatSessions`` over ``desk.chat_sessions``): a
restart keeps them and every process on the database serves each of them."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from bot.conversation import Button, ChatSession, SessionEnd
from desk import UnitOfWork, chat_sessions
from desk.chat_sessions import Ended, Expiry, Offer, SessionState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")

UNVERIFIED_IDLE = dt.timedelta(minutes=30)  # a session that never verified is forgotten sooner
MAX_LABEL = 200  # characters of a button's label kept to map a click back to it
MAX_VALUE = 64  # longer values cannot come back as a click

_ENDED = {Ended.UNKNOWN: SessionEnd.UNKNOWN, Ended.IDLE: SessionEnd.IDLE, Ended.LIFETIME: SessionEnd.LIFETIME}


def _session(state: SessionState) -> ChatSession:
    return ChatSession(id=state.id, address=state.address, external_id=state.external_id, email=state.email,
                       verified=state.verified)


class DeskChatSessions:
    """A session ends ``lifetime`` after it opened, or after ``idle`` without use (``unverified_idle`` before it is
    verified); ``keep``: the replies kept per session. Blocking desk work runs in a thread, never on the event loop."""

    def __init__(self, *, uow: UnitOfWork, idle: dt.timedelta, lifetime: dt.timedelta,
                 unverified_idle: dt.timedelta = UNVERIFIED_IDLE, keep: int = 200,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)):
        if keep < 1 or min(idle, lifetime, unverified_idle) <= dt.timedelta(0):
            raise ValueError("keep, idle, lifetime and unverified_idle must be positive")
        self._expiry = Expiry(idle=idle, unverified_idle=unverified_idle, lifetime=lifetime)
        self._uow, self._keep, self._clock = uow, keep, clock

    @property
    def lifetime(self) -> dt.timedelta:
        return self._expiry.lifetime

    async def open(self, *, channel: str, digest: str, address: str) -> ChatSession:
        return await self._in_desk(lambda s, now: _session(chat_sessions.open_session(
            session=s, channel=channel, digest=digest, address=address, now=now, expiry=self._expiry)))

    async def find(self, *, digest: str) -> ChatSession | SessionEnd:
        found = await self._in_desk(lambda s, now: chat_sessions.find(session=s, digest=digest, now=now,
                                                                       expiry=self._expiry))
        if found.state is None:
            return _ENDED[found.ended or Ended.UNKNOWN]
        return _session(found.state)

    async def touch(self, *, session_id: int) -> bool:
        return await self._in_desk(lambda s, now: chat_sessions.touch(session=s, session_id=session_id, now=now,
                                                                       expiry=self._expiry))

    async def codes_sent(self, *, session_id: int, window: dt.timedelta) -> tuple[int, dt.timedelta]:
        def look(s: Session, now: dt.datetime) -> tuple[int, dt.timedelta]:
            found = chat_sessions.code_window(session=s, session_id=session_id, now=now, window=window)
            return found.sent, (found.started_at + window - now) if found.started_at else window

        return await self._in_desk(look)

    async def code_sent(self, *, session_id: int, external_id: str, email: str, window: dt.timedelta) -> int:
        return await self._in_desk(lambda s, now: chat_sessions.record_code(
            session=s, session_id=session_id, external_id=external_id, email=email, now=now, window=window).sent)

    async def forget_pending(self, *, session_id: int) -> None:
        await self._in_desk(lambda s, now: chat_sessions.forget_pending(session=s, session_id=session_id))

    async def verified(self, *, session_id: int, external_id: str, email: str, digest: str) -> ChatSession | None:
        state = await self._in_desk(lambda s, now: chat_sessions.mark_verified(
            session=s, session_id=session_id, external_id=external_id, email=email, digest=digest, now=now,
            expiry=self._expiry))
        return None if state is None else _session(state)

    async def add_reply(self, *, channel: str, address: str, payload: str, offers: Sequence[Button]) -> int | None:
        kept = [Offer(b.value, b.label[:MAX_LABEL]) for b in offers if not b.url and len(b.value) <= MAX_VALUE]
        return await self._in_desk(lambda s, now: chat_sessions.add_reply(
            session=s, channel=channel, address=address, payload=payload, offers=kept, now=now, keep=self._keep))

    async def replies_after(self, *, session_id: int, after: int) -> tuple[tuple[int, str], ...] | None:
        waiting = await self._in_desk(lambda s, now: chat_sessions.replies_after(
            session=s, session_id=session_id, after=after, now=now))
        return waiting.replies if waiting.live else None

    async def offered_label(self, *, session_id: int, value: str) -> str | None:
        return await self._in_desk(lambda s, now: chat_sessions.offered_label(session=s, session_id=session_id,
                                                                               value=value))

    async def _in_desk(self, work: Callable[..., T]) -> T:
        def run() -> T:
            with self._uow() as session:
                return work(session, self._clock())

        return await asyncio.to_thread(run)
