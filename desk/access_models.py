"""The desk's access tables: sign-in rate counters, agents' API tokens, console sessions, chat verification codes
and chat sessions with their waiting replies."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from desk._base import Base, UTCDateTime

if TYPE_CHECKING:
    from desk.models import User


class RateCounter(Base):
    """How many events of one kind one key (an IP address, an email address, '' for everyone) had in a window.

    Fixed windows, one row each: a hit is one upsert, and rows past ``expires_at`` are pruned as hits come.
    In the database so that a restart or a second process does not hand out a fresh allowance.
    """

    __tablename__ = "rate_counters"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(254), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ApiToken(Base):
    """A script's credential for the API (``Authorization: Bearer dsk_...``); only its SHA-256 is kept.

    A token is 32 random bytes, so a plain SHA-256 suffices (no slow hash: nothing to guess), and a
    lookup is one indexed equality on the digest.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the token
    prefix: Mapped[str] = mapped_column(String(16))  # the token's first characters, to recognise it in a list
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class WebSession(Base):
    """A signed-in browser (the console): the cookie holds the secret, the desk its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the cookie's value
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the idle timeout counts from here
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)  # absolute, however active
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # signed out

    user: Mapped[User] = relationship()


class VerificationCode(Base):
    """A one-time code mailed to ``email`` for a chat identity (web chat, Telegram) to prove the address.

    One pending code per identity: a new one replaces it. Only a salted scrypt of the code is kept (a
    6-digit code is a million guesses: a fast hash would give them all away with a copy of the table).
    A code that verified, expired or ran out of tries is deleted, so it can never be used again.
    """

    __tablename__ = "verification_codes"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(254))
    email: Mapped[str] = mapped_column(String(254))
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ChatSession(Base):
    """A browser's chat session (or any channel's that keeps its own): the cookie holds the token, the desk its
    SHA-256. ``external_id`` is the identity it speaks for: the one a code is pending for until ``verified``.

    Ends at ``expires_at``: ``ends_at`` (absolute, however active) or an idle timeout after ``last_seen_at``,
    whichever is sooner; every use moves it on. Rows past it are deleted on read and by the housekeeping loop.
    """

    __tablename__ = "chat_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the token
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(64), unique=True)  # the conversation's address: stable, no secret
    external_id: Mapped[str | None] = mapped_column(String(254))
    email: Mapped[str | None] = mapped_column(String(254))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    codes_sent: Mapped[int] = mapped_column(Integer, default=0)  # in the window that began at codes_since
    codes_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_reply: Mapped[int] = mapped_column(Integer, default=0)  # the sequence number of its newest reply
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ChatReply(Base):
    """A reply waiting for a chat session's streams, numbered per session (the stream's event id): whichever
    process holds a stream open reads it from here, so a reply sent by any process reaches it."""

    __tablename__ = "chat_replies"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)  # as the channel renders it
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ChatOffer(Base):
    """A button value offered in a chat session and its label, so that a click is taken only for what was offered."""

    __tablename__ = "chat_offers"

    session_id: Mapped[int] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    offered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
