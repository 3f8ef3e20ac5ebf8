"""The desk's access tables: sign-in rate counters, agents' API tokens, console sessions and chat verification codes."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
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
