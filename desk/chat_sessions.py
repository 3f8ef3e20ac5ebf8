"""Chat sessions kept in the desk: a channel's browser session (token digest, the identity it speaks for, expiry),
the replies waiting for its streams and the buttons it was offered.

In the desk so that a restart forgets nothing and several processes on one database share every session: a
reply added by the process that sends it is read by whichever process holds the session's stream. Only the
SHA-256 of a session's token is kept; the channel hands over digests, never tokens.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from desk.access_models import ChatOffer, ChatReply, ChatSession

MAX_OFFERS = 64  # button values remembered per session (the newest), to map a click back to its label


@dataclass(frozen=True)
class Expiry:
    """When a session ends: ``lifetime`` after it opened however active, or after ``idle`` without use
    (``unverified_idle`` before its identity is verified). ``last_seen_at`` is written at most every ``touch_every``."""

    idle: dt.timedelta
    unverified_idle: dt.timedelta
    lifetime: dt.timedelta
    touch_every: dt.timedelta = dt.timedelta(seconds=30)

    def idle_for(self, *, verified: bool) -> dt.timedelta:
        return self.idle if verified else min(self.idle, self.unverified_idle)


class Ended(enum.Enum):
    UNKNOWN = "unknown"  # no such session (never opened, or already cleaned away)
    IDLE = "idle"  # unused for longer than the idle timeout
    LIFETIME = "lifetime"  # past its absolute lifetime


@dataclass(frozen=True)
class SessionState:
    id: int
    channel: str
    address: str
    external_id: str | None  # the identity it speaks for: verified, or the one a code is pending for
    email: str | None
    verified: bool
    expires_at: dt.datetime


@dataclass(frozen=True)
class Found:
    state: SessionState | None
    ended: Ended | None = None  # why there is no state


@dataclass(frozen=True)
class Offer:
    value: str
    label: str


@dataclass(frozen=True)
class Waiting:
    """A session's replies after a sequence number; ``live`` False: the session has ended (its stream ends too)."""

    live: bool
    replies: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class CodeWindow:
    sent: int  # codes sent in the window
    started_at: dt.datetime | None  # None: no window open


def _state(row: ChatSession) -> SessionState:
    return SessionState(id=row.id, channel=row.channel, address=row.address, external_id=row.external_id,
                        email=row.email, verified=row.verified, expires_at=row.expires_at)


def _move_on(row: ChatSession, *, now: dt.datetime, expiry: Expiry) -> None:
    row.last_seen_at = now
    row.expires_at = min(row.ends_at, now + expiry.idle_for(verified=row.verified))


def open_session(*, session: Session, channel: str, digest: str, address: str, now: dt.datetime,
                 expiry: Expiry) -> SessionState:
    row = ChatSession(digest=digest, channel=channel, address=address, verified=False, codes_sent=0, last_reply=0,
                      created_at=now, last_seen_at=now, ends_at=now + expiry.lifetime, expires_at=now)
    _move_on(row, now=now, expiry=expiry)
    session.add(row)
    session.flush()
    return _state(row)


def find(*, session: Session, digest: str, now: dt.datetime, expiry: Expiry) -> Found:
    """The live session of a token's digest, its use recorded; an ended one says why it ended (it stays until
    ``purge_ended`` takes it, so every request of it hears the same reason)."""
    row = session.scalar(select(ChatSession).where(ChatSession.digest == digest))
    if row is None:
        return Found(None, Ended.UNKNOWN)
    if now >= row.expires_at:
        return Found(None, Ended.LIFETIME if now >= row.ends_at else Ended.IDLE)
    # Not a write on every request; but often enough that a session in use never idles out.
    if now - row.last_seen_at >= min(expiry.touch_every, expiry.idle_for(verified=row.verified) / 4):
        _move_on(row, now=now, expiry=expiry)
    return Found(_state(row))


def touch(*, session: Session, session_id: int, now: dt.datetime, expiry: Expiry) -> bool:
    """Record a use (an open stream is one); False when the session has ended meanwhile."""
    row = session.get(ChatSession, session_id)
    if row is None or now >= row.expires_at:
        return False
    _move_on(row, now=now, expiry=expiry)
    return True


def by_address(*, session: Session, channel: str, address: str, now: dt.datetime) -> SessionState | None:
    row = session.scalar(select(ChatSession).where(ChatSession.channel == channel, ChatSession.address == address))
    return _state(row) if row is not None and now < row.expires_at else None


def code_window(*, session: Session, session_id: int, now: dt.datetime, window: dt.timedelta) -> CodeWindow:
    """The codes this session asked for in its current window (a window opens with its first code)."""
    row = _row(session, session_id)
    if row.codes_since is None or now - row.codes_since >= window:
        return CodeWindow(0, None)
    return CodeWindow(row.codes_sent, row.codes_since)


def record_code(*, session: Session, session_id: int, external_id: str, email: str, now: dt.datetime,
                window: dt.timedelta) -> CodeWindow:
    """A code went out for ``external_id`` at ``email``: the session now speaks for it, unverified."""
    row = _row(session, session_id)
    if row.codes_since is None or now - row.codes_since >= window:
        row.codes_since, row.codes_sent = now, 0
    row.codes_sent += 1
    row.external_id, row.email, row.verified = external_id, email, False
    session.flush()
    return CodeWindow(row.codes_sent, row.codes_since)


def forget_pending(*, session: Session, session_id: int) -> None:
    """The pending code is gone (used up, expired): the session speaks for nobody until a new code."""
    row = _row(session, session_id)
    if not row.verified:
        row.external_id = row.email = None


def mark_verified(*, session: Session, session_id: int, external_id: str, email: str, digest: str,
                  now: dt.datetime, expiry: Expiry) -> SessionState | None:
    """The session speaks for ``external_id``, verified, under a new token (``digest``), so that a token seen before
    is worthless. None: it was verified already (another request of it won the race) or it has ended."""
    row = session.get(ChatSession, session_id, with_for_update=True)
    if row is None or row.verified or now >= row.expires_at:
        return None
    row.external_id, row.email, row.verified, row.digest = external_id, email, True, digest
    row.codes_sent, row.codes_since = 0, None
    _move_on(row, now=now, expiry=expiry)
    session.flush()
    return _state(row)


def add_reply(*, session: Session, channel: str, address: str, payload: str, offers: Sequence[Offer],
              now: dt.datetime, keep: int) -> int | None:
    """Queue a reply for the session of ``address`` (its newest ``keep`` stay); its sequence number, or None when
    no live session has that address."""
    row = session.scalar(select(ChatSession).where(ChatSession.channel == channel, ChatSession.address == address)
                         .with_for_update())
    if row is None or now >= row.expires_at:
        return None
    row.last_reply += 1
    session.add(ChatReply(session_id=row.id, seq=row.last_reply, payload=payload, created_at=now))
    session.execute(delete(ChatReply).where(ChatReply.session_id == row.id, ChatReply.seq <= row.last_reply - keep))
    for offer in offers:
        existing = session.get(ChatOffer, (row.id, offer.value))
        if existing is None:
            session.add(ChatOffer(session_id=row.id, value=offer.value, label=offer.label, offered_at=now))
        else:
            existing.label, existing.offered_at = offer.label, now
    session.flush()
    if offers:
        newest = select(ChatOffer.value).where(ChatOffer.session_id == row.id).order_by(
            ChatOffer.offered_at.desc(), ChatOffer.value).limit(MAX_OFFERS)
        session.execute(delete(ChatOffer).where(ChatOffer.session_id == row.id,
                                                ChatOffer.value.not_in(newest.scalar_subquery())))
    return row.last_reply


def replies_after(*, session: Session, session_id: int, after: int, now: dt.datetime) -> Waiting:
    ends = session.scalar(select(ChatSession.expires_at).where(ChatSession.id == session_id))
    if ends is None or now >= ends:
        return Waiting(live=False)
    rows = session.execute(select(ChatReply.seq, ChatReply.payload).where(
        ChatReply.session_id == session_id, ChatReply.seq > after).order_by(ChatReply.seq)).all()
    return Waiting(live=True, replies=tuple((seq, payload) for seq, payload in rows))


def offered_label(*, session: Session, session_id: int, value: str) -> str | None:
    """The label of a button offered in the session, or None if it was never offered there."""
    return session.scalar(select(ChatOffer.label).where(ChatOffer.session_id == session_id, ChatOffer.value == value))


def purge_ended(*, session: Session, now: dt.datetime) -> int:
    """Delete the sessions past their end (their replies and offers go with them). Returns how many."""
    return session.execute(delete(ChatSession).where(ChatSession.expires_at <= now)).rowcount or 0


def _row(session: Session, session_id: int) -> ChatSession:
    row = session.get(ChatSession, session_id)
    if row is None:
        raise LookupError(f"no chat session {session_id}")
    return row
