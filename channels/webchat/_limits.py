"""The web chat's own sign-in limits: which counts a new session, a code request and a wrong code take per
client address and for everyone (the limits per email address and per identity are the verification service's).

Counted by the injected ``RateLimiter`` (the desk's database in deskbot), so that neither a
restart nor a second HTTP process hands out a fresh allowance.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from bot.conversation import RateLimit

EVERYONE = ""  # the key of a limit on all clients together


class Scope(enum.StrEnum):
    SESSIONS_PER_IP = "webchat.sessions.ip"
    SESSIONS = "webchat.sessions"
    CODES_PER_IP = "webchat.codes.ip"
    CODES = "webchat.codes"
    FAILED_CODES_PER_IP = "webchat.failed_codes.ip"


@dataclass(frozen=True)
class SignInLimits:
    """How many of each a client may have per ``window``; deskbot's come from its settings."""

    sessions_per_ip: int
    sessions: int
    codes_per_ip: int
    codes: int
    failed_codes_per_ip: int
    window: dt.timedelta = dt.timedelta(hours=1)

    def new_session(self, *, ip: str) -> list[RateLimit]:
        return [self._limit(Scope.SESSIONS_PER_IP, ip, self.sessions_per_ip),
                self._limit(Scope.SESSIONS, EVERYONE, self.sessions)]

    def code_request(self, *, ip: str) -> list[RateLimit]:
        return [self._limit(Scope.CODES_PER_IP, ip, self.codes_per_ip),
                self._limit(Scope.CODES, EVERYONE, self.codes)]

    def failed_code(self, *, ip: str) -> list[RateLimit]:
        return [self._limit(Scope.FAILED_CODES_PER_IP, ip, self.failed_codes_per_ip)]

    def _limit(self, scope: Scope, key: str, limit: int) -> RateLimit:
        return RateLimit(scope=scope.value, key=key, limit=limit, window=self.window)
