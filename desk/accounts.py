"""Agents' and admins' credentials: passwords (argon2id), API tokens and web sessions.

Only desk users (agents and admins, table ``users``) have credentials. A requester has no account
at all, so there is nothing a requester could sign in with or get a token for.

Tokens and session ids are 32 random bytes: the desk keeps their SHA-256 only (a leaked table signs
nobody in), and a fast hash is enough because there is nothing to guess. Passwords are people's, so
they get argon2id, with a dummy hash verified for an unknown user so that timing tells nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from desk.domain import DeskError, NotFound
from desk.models import ApiToken, User, WebSession
from desk.people import get_user

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # room for any passphrase; a megabyte "password" would only make sign-in slow
TOKEN_PREFIX = "dsk_"
_PREFIX_SHOWN = len(TOKEN_PREFIX) + 6  # what a token list shows of it: enough to tell tokens apart, useless to a thief
# last_used / last_seen are written at most this often: a script calling the API in a loop does not turn
# every read into a write, and a minute is finer than anyone reading "last used" or an idle timeout needs.
_TOUCH_EVERY = dt.timedelta(minutes=1)


@functools.cache
def _hasher() -> PasswordHasher:
    # argon2-cffi's defaults are RFC 9106's second recommended set (argon2id, t=3, 64 MiB, p=4); when a
    # later release raises them, check_password rehashes on the next successful sign-in.
    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify when there is no real one, so that an unknown user costs what a known one does."""
    return _hasher().hash(secrets.token_urlsafe(16))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _usable(user: User | None) -> User | None:
    return user if user is not None and user.active else None


# --- passwords ----------------------------------------------------------------------------------


def set_password(*, session: Session, username: str, password: str) -> User:
    """Store ``password`` (argon2id) for an agent or admin; refuses one shorter than 12 characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DeskError(f"the password is too short: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise DeskError(f"the password is too long: at most {MAX_PASSWORD_LENGTH} characters")
    user = get_user(session=session, username=username)
    user.password_hash = _hasher().hash(password)
    session.flush()
    return user


def check_password(*, session: Session, username: str, password: str) -> User | None:
    """The active user whose password this is, or None, in about the same time whatever the reason
    (no such user, no password set, inactive, wrong password)."""
    user = session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user is not None and user.password_hash else None
    try:
        _hasher().verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if stored is None or _usable(user) is None:
        return None
    assert user is not None
    if _hasher().check_needs_rehash(stored):
        user.password_hash = _hasher().hash(password)
        session.flush()
    return user


# --- API tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is shown to its owner once and never again (the desk keeps a digest)."""

    token: ApiToken
    secret: str


def create_token(*, session: Session, username: str, name: str, now: dt.datetime) -> NewToken:
    """A new API token for an active agent or admin."""
    user = get_user(session=session, username=username)
    if not user.active:
        raise DeskError(f"{username} is not active: an inactive user gets no token")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name.strip(), digest=_digest(secret), prefix=secret[:_PREFIX_SHOWN],
                     created_at=now)
    session.add(token)
    session.flush()
    return NewToken(token=token, secret=secret)


def list_tokens(*, session: Session, username: str | None = None) -> Sequence[ApiToken]:
    """Every token (or one user's), oldest first, revoked ones included."""
    query = select(ApiToken).options(selectinload(ApiToken.user)).order_by(ApiToken.id)
    if username is not None:
        query = query.where(ApiToken.user_id == get_user(session=session, username=username).id)
    return session.scalars(query).all()


def revoke_token(*, session: Session, token_id: int, now: dt.datetime) -> ApiToken:
    """Revoke a token: it is refused from now on. Revoking a revoked token changes nothing."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no API token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now
        session.flush()
    return token


def user_for_token(*, session: Session, secret: str, now: dt.datetime) -> User | None:
    """The active user an unrevoked token belongs to, or None; notes when the token was last used."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.digest == _digest(secret)))
    if token is None or token.revoked_at is not None or _usable(token.user) is None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= _TOUCH_EVERY:
        token.last_used_at = now
        session.flush()
    return token.user


# --- web sessions -----------------------------------------------------------------------------------


def open_session(*, session: Session, user: User, now: dt.datetime, lifetime: dt.timedelta) -> str:
    """A new web session for an active user; returns its secret (the cookie's value), which the desk does not keep."""
    if _usable(user) is None:
        raise DeskError(f"{user.username} is not active")
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))  # ended sessions go as new ones come
    secret = secrets.token_urlsafe(32)
    session.add(WebSession(digest=_digest(secret), user=user, created_at=now, last_seen_at=now,
                           expires_at=now + lifetime))
    session.flush()
    return secret


def user_for_session(*, session: Session, secret: str, now: dt.datetime, idle: dt.timedelta) -> User | None:
    """The active user of a live session, or None: signed out, idle for ``idle``, past its absolute
    expiry, or its user made inactive. Each use slides the idle timeout on."""
    web = session.scalar(select(WebSession).where(WebSession.digest == _digest(secret)))
    if (web is None or web.revoked_at is not None or now >= web.expires_at or now - web.last_seen_at >= idle
            or _usable(web.user) is None):
        return None
    if now - web.last_seen_at >= _TOUCH_EVERY:
        web.last_seen_at = now
        session.flush()
    return web.user


def close_session(*, session: Session, secret: str, now: dt.datetime) -> None:
    """Sign out: the session is refused from now on (an unknown or closed one is no error)."""
    web = session.scalar(select(WebSession).where(WebSession.digest == _digest(secret)))
    if web is not None and web.revoked_at is None:
        web.revoked_at = now
        session.flush()



def last_sign_ins(*, session: Session) -> dict[str, dt.datetime]:
    """Each user's latest web sign-in, by username, as far as the sessions kept tell (ended ones are deleted
    as new ones open, so a user who has not signed in for a while has none)."""
    latest = session.execute(select(User.username, func.max(WebSession.created_at))
                             .join(WebSession, WebSession.user_id == User.id).group_by(User.username))
    return {username: at for username, at in latest}
