"""Who is calling the API: one dependency (``signed_in``) that every ``/api/v1`` route runs, and ``require_admin``.

A caller proves who they are with an API token (``Authorization: Bearer dsk_...``, for scripts) or the session
cookie set by sign-in (the console). Both live in the desk (``desk.accounts``), hashed.

CSRF: a browser sends the session cookie with any request, also one a hostile page makes it send. So a
cookie-authenticated request that changes state (any method but GET, HEAD, OPTIONS) must carry the header
``X-CSRF-Token`` with the session's CSRF token: HMAC-SHA256 of the session secret, handed out at sign-in (in the
answer and in the readable cookie ``deskbot_csrf``). Another site can neither read that cookie nor set a custom
header on a cross-site request without a CORS preflight, which deskbot never grants. Derived from the session
(rather than a random double-submit cookie) it needs no storage and cannot be planted by a sibling subdomain
that can write cookies: a planted value does not match the victim's session. Bearer calls are exempt: a browser
never adds an ``Authorization`` header on its own. Sign-in itself takes a JSON body only, which a cross-site form
cannot send.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from bot.settings import Settings
from bot.web.errors import ApiError, ErrorCode
from desk import Role, UnitOfWork, accounts, limits

if TYPE_CHECKING:
    from desk.models import User

SESSION_COOKIE = "deskbot_session"
CSRF_COOKIE = "deskbot_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# One message for every failed sign-in: whether the user exists, has a password or is active is nobody's business.
WRONG_CREDENTIALS = "wrong username or password"
log = logging.getLogger(__name__)


class Via(enum.StrEnum):
    SESSION = "session"
    TOKEN = "token"


class Principal(BaseModel):
    """The signed-in agent or admin of a request."""

    model_config = ConfigDict(frozen=True)

    user_id: int
    username: str
    role: Role
    groups: tuple[str, ...]
    via: Via

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def actor(self) -> str:
        """How the audit trail names this user (as it does for the CLI's and Slack's agent actions)."""
        return f"user:{self.username}"


class Scope(enum.StrEnum):
    ATTEMPTS_PER_ACCOUNT = "api.login.account"
    ATTEMPTS_PER_IP = "api.login.ip"


@dataclass(frozen=True)
class SignInPolicy:
    """Cookies, session lifetimes and sign-in limits; deskbot's come from its settings."""

    secure_cookies: bool
    session_idle: dt.timedelta
    session_lifetime: dt.timedelta
    attempts_per_account: int
    attempts_per_ip: int
    window: dt.timedelta = dt.timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInPolicy:
        return cls(secure_cookies=settings.public_url_is_https,
                   session_idle=dt.timedelta(minutes=settings.web_session_idle_minutes),
                   session_lifetime=dt.timedelta(hours=settings.web_session_hours),
                   attempts_per_account=settings.login_attempts_per_account_per_hour,
                   attempts_per_ip=settings.login_attempts_per_ip_per_hour)

    def sign_in_limits(self, *, username: str, ip: str) -> list[limits.Limit]:
        return [limits.Limit(scope=Scope.ATTEMPTS_PER_ACCOUNT.value, key=username.lower(),
                             limit=self.attempts_per_account, window=self.window),
                limits.Limit(scope=Scope.ATTEMPTS_PER_IP.value, key=ip, limit=self.attempts_per_ip, window=self.window)]


def csrf_token(session_secret: str) -> str:
    return hmac.new(session_secret.encode("utf-8"), b"deskbot csrf", hashlib.sha256).hexdigest()


class Authenticator:
    """Signs callers in and out and tells who a request is from; one per app (``app.state.authenticator``)."""

    def __init__(self, *, uow: UnitOfWork, policy: SignInPolicy):
        self.uow, self.policy = uow, policy

    def principal(self, request: Request, *, form_token: str | None = None) -> Principal:
        """``form_token``: the CSRF token a console form carries (a plain HTML form cannot set the header)."""
        now = dt.datetime.now(dt.UTC)
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme:  # an explicit credential: it alone counts, a cookie sent along does not rescue it
            if scheme.lower() != "bearer" or not credentials.strip():
                raise _not_authenticated("use 'Authorization: Bearer <token>' with a deskbot API token")
            with self.uow() as session:
                user = accounts.user_for_token(session=session, secret=credentials.strip(), now=now)
                principal = _principal_of(user, Via.TOKEN) if user else None
            if principal is None:
                raise _not_authenticated("the API token is not valid (unknown, revoked, or its user is inactive)")
            return principal
        secret = request.cookies.get(SESSION_COOKIE)
        if not secret:
            raise _not_authenticated("sign in first (POST /api/v1/auth/login) or send an API token")
        with self.uow() as session:
            user = accounts.user_for_session(session=session, secret=secret, now=now, idle=self.policy.session_idle)
            principal = _principal_of(user, Via.SESSION) if user else None
        if principal is None:
            raise _not_authenticated("the session has ended: sign in again")
        if request.method not in _SAFE_METHODS and not hmac.compare_digest(
                request.headers.get(CSRF_HEADER) or form_token or "", csrf_token(secret)):
            raise ApiError(403, ErrorCode.CSRF_FAILED,
                           f"a signed-in browser's {request.method} needs the {CSRF_HEADER} header "
                           f"(the csrf_token from sign-in, also in the {CSRF_COOKIE} cookie)")
        return principal

    def sign_in(self, *, username: str, password: str, ip: str, response: Response) -> tuple[Principal, str]:
        """Check the password and open a session: sets its cookies on ``response``; returns who and the CSRF token."""
        now = dt.datetime.now(dt.UTC)
        with self.uow() as session:  # counted whatever the outcome, before the check: parallel guesses count too
            wait = limits.hit(session=session, limits=self.policy.sign_in_limits(username=username, ip=ip), now=now)
        if wait is not None:
            seconds = max(1, math.ceil(wait.total_seconds()))
            log.warning("sign-in refused for %r from %s: too many attempts", username, ip)
            raise ApiError(429, ErrorCode.RATE_LIMITED,
                           f"too many sign-in attempts: try again in {-(-seconds // 60)} minute(s)",
                           headers={"Retry-After": str(seconds)})
        with self.uow() as session:
            user = accounts.check_password(session=session, username=username, password=password)
            opened = None if user is None else (
                _principal_of(user, Via.SESSION),
                accounts.open_session(session=session, user=user, now=now, lifetime=self.policy.session_lifetime))
        if opened is None:
            log.info("sign-in failed for %r from %s", username, ip)
            raise _not_authenticated(WRONG_CREDENTIALS)
        principal, secret = opened
        log.info("%s signed in from %s", username, ip)
        token = csrf_token(secret)
        self._set_cookie(response, SESSION_COOKIE, secret, http_only=True)
        self._set_cookie(response, CSRF_COOKIE, token, http_only=False)  # the console's script reads it
        return principal, token

    def sign_out(self, *, request: Request, response: Response) -> None:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            with self.uow() as session:
                accounts.close_session(session=session, secret=secret, now=dt.datetime.now(dt.UTC))
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            response.delete_cookie(name, path="/", secure=self.policy.secure_cookies, httponly=name == SESSION_COOKIE,
                                   samesite="lax")

    def _set_cookie(self, response: Response, name: str, value: str, *, http_only: bool) -> None:
        # No Max-Age: the cookie goes with the browser; the desk ends the session anyway (idle, absolute expiry).
        response.set_cookie(name, value, path="/", httponly=http_only, samesite="lax",
                            secure=self.policy.secure_cookies)


def _principal_of(user: User, via: Via) -> Principal:
    return Principal(user_id=user.id, username=user.username, role=user.role,
                     groups=tuple(sorted(g.name for g in user.groups)), via=via)


def _not_authenticated(message: str) -> ApiError:
    return ApiError(401, ErrorCode.NOT_AUTHENTICATED, message, headers=_CHALLENGE)


def authenticator_of(request: Request) -> Authenticator:
    return request.app.state.authenticator


# Declared so that the OpenAPI spec says how to authenticate (and /docs offers to paste a token); the
# Authenticator reads the header and the cookie itself, so that a malformed one gets a message of its own.
_BEARER = HTTPBearer(auto_error=False, scheme_name="token", description="an API token from 'deskbot token create'")
_COOKIE = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="session",
                       description="the console's session, from POST /api/v1/auth/login")


def signed_in(request: Request,
              _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
              _session: Annotated[str | None, Depends(_COOKIE)] = None) -> Principal:
    """The dependency of every API route: the caller, or 401."""
    return authenticator_of(request).principal(request)


def require_admin(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    """The dependency of the admin routes: an admin, or 403."""
    if not principal.is_admin:
        raise ApiError(403, ErrorCode.FORBIDDEN, "this needs an admin")
    return principal
