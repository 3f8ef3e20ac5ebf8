"""The one verification service of the chat channels (web chat, Telegram): ``bot.conversation.Verifier``.

A code is mailed to an address at one of the desk's domains for one chat identity and typed back there; the
desk keeps it hashed (``desk.verification``) and links the identity to that address's requester when it is
right. Limits per address and per identity, on code requests and on wrong codes, are counted in the desk
(``desk.limits``), with the channel's own (``also``) in the same step, so neither a restart nor a second
process hands out a fresh allowance.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.conversation import CodeSent, RateLimit, VerificationProblem, VerificationRefused
from desk import UnitOfWork, limits, verification
from desk.verification import Outcome

log = logging.getLogger("deskbot.verification")
T = TypeVar("T")

SendCode = Callable[[str, str], Awaitable[None]]  # (address, code): the relay, or the operator's log
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
_CODE = re.compile(r"[0-9]{%d}" % verification.CODE_DIGITS)


def normalise_email(value: object) -> str | None:
    """The address lower-cased, or None if it is not a plain ASCII ``local@domain.tld``."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    if len(email) > 254 or email.count("@") != 1:
        return None
    local, domain = email.split("@")
    if len(local) > 64 or not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        return None
    return email


@dataclass(frozen=True)
class VerificationLimits:
    """Per ``window``: codes mailed to one address and to one identity, wrong codes for one address and from one
    identity. With 5 tries a code, 10 wrong codes an hour make guessing a 6-digit code hopeless."""

    codes_per_address: int
    codes_per_identity: int
    failed_codes_per_address: int
    failed_codes_per_identity: int
    window: dt.timedelta = dt.timedelta(hours=1)

    def code_request(self, *, identity: str, email: str) -> list[limits.Limit]:
        return [self._limit("verify.codes.address", email, self.codes_per_address),
                self._limit("verify.codes.identity", identity, self.codes_per_identity)]

    def failed_code(self, *, identity: str, email: str) -> list[limits.Limit]:
        return [self._limit("verify.failed_codes.address", email, self.failed_codes_per_address),
                self._limit("verify.failed_codes.identity", identity, self.failed_codes_per_identity)]

    def _limit(self, scope: str, key: str, limit: int) -> limits.Limit:
        return limits.Limit(scope=scope, key=key[:254], limit=limit, window=self.window)


def desk_limits(checks: Sequence[RateLimit]) -> list[limits.Limit]:
    """A channel's limits as the desk counts them."""
    return [limits.Limit(scope=c.scope, key=c.key, limit=c.limit, window=c.window) for c in checks]


class ChatVerification:
    """``send_code`` None: no way to deliver a code, so every request is refused (never shown to someone who could
    not prove the address)."""

    def __init__(self, *, uow: UnitOfWork, send_code: SendCode | None, allowed_domains: Sequence[str],
                 limits: VerificationLimits, code_ttl: dt.timedelta = dt.timedelta(minutes=10), max_attempts: int = 5,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)):
        self._allowed = tuple(d.strip().lower().lstrip("@") for d in allowed_domains if d.strip())
        if not self._allowed:
            raise ValueError("allowed_domains is empty: codes would go to any address in the world")
        if max_attempts < 1:
            raise ValueError("max_attempts must be positive")
        self._uow, self._send, self._limits = uow, send_code, limits
        self._ttl, self._max_attempts, self._clock = code_ttl, max_attempts, clock

    @property
    def code_ttl(self) -> dt.timedelta:
        return self._ttl

    async def send_code(self, *, channel: str, external_id: str, email: str,
                        also: Sequence[RateLimit] = ()) -> CodeSent:
        if self._send is None:
            raise VerificationRefused(VerificationProblem.NOT_SET_UP, "sign-in by email is not set up on this desk")
        address = normalise_email(email)
        if address is None:
            raise VerificationRefused(VerificationProblem.ADDRESS,
                                      "enter a valid work email address, like name@company.com")
        if address.split("@")[1] not in self._allowed:
            raise VerificationRefused(VerificationProblem.ADDRESS,
                                      "only addresses at " + " or ".join(self._allowed) + " can sign in here")
        code = verification.new_code()
        checks = [*self._limits.code_request(identity=f"{channel}:{external_id}", email=address), *desk_limits(also)]

        def issue() -> dt.timedelta | None:
            with self._uow() as session:
                now = self._clock()
                wait = limits.hit(session=session, limits=checks, now=now)
                if wait is None:
                    verification.issue_code(session=session, channel=channel, external_id=external_id, email=address,
                                            code=code, now=now, ttl=self._ttl)
                return wait

        wait = await self._in_desk(issue)
        if wait is not None:
            raise VerificationRefused(VerificationProblem.TOO_MANY, "too many codes requested", retry_after=wait)
        try:
            await self._send(address, code)
        except Exception:
            log.exception("sending a verification code for %s %s failed", channel, external_id)
            raise VerificationRefused(VerificationProblem.NOT_SENT,
                                      "the code could not be sent right now: please try again in a moment") from None
        return CodeSent(address, self._ttl)

    async def check_code(self, *, channel: str, external_id: str, code: str, display_name: str = "",
                         also: Sequence[RateLimit] = ()) -> str:
        code = "".join(code.split())
        if not _CODE.fullmatch(code):
            raise VerificationRefused(VerificationProblem.BAD_FORMAT, "enter the 6-digit code from the email")
        identity = f"{channel}:{external_id}"

        def check() -> tuple[verification.Check, dt.timedelta | None]:
            with self._uow() as session:
                now = self._clock()
                email = verification.pending_email(session=session, channel=channel, external_id=external_id, now=now)
                failures = [*self._limits.failed_code(identity=identity, email=email or ""), *desk_limits(also)]
                if email is not None:
                    # Over a limit even the right code waits: no more guessing.
                    wait = limits.blocked_for(session=session, limits=failures, now=now)
                    if wait is not None:
                        return verification.Check(Outcome.WRONG, email), wait
                result = verification.check_code(session=session, channel=channel, external_id=external_id,
                                                 code=code, now=now, max_attempts=self._max_attempts,
                                                 display_name=display_name)
                if result.outcome is Outcome.WRONG:
                    limits.hit(session=session, limits=failures, now=now)
                return result, None

        result, wait = await self._in_desk(check)
        if wait is not None:
            raise VerificationRefused(VerificationProblem.TOO_MANY, "too many wrong codes", retry_after=wait)
        if result.outcome is Outcome.VERIFIED:
            assert result.email is not None
            log.info("%s verified as %s", identity, result.email)
            return result.email
        if result.outcome is Outcome.NO_CODE:
            raise VerificationRefused(VerificationProblem.NO_CODE, "no code is waiting: ask for a new code")
        if result.outcome is Outcome.EXPIRED:
            raise VerificationRefused(VerificationProblem.EXPIRED, "the code has expired: ask for a new one")
        left = result.attempts_left
        message = (f"wrong code: {left} attempt{'s' if left != 1 else ''} left" if left else
                   "wrong code, and no attempts are left: ask for a new code")
        raise VerificationRefused(VerificationProblem.WRONG, message, attempts_left=left)

    async def pending(self, *, channel: str, external_id: str) -> str | None:
        def look() -> str | None:
            with self._uow() as session:
                return verification.pending_email(session=session, channel=channel, external_id=external_id,
                                                  now=self._clock())

        return await self._in_desk(look)

    async def _in_desk(self, work: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(work)
        except Exception:
            # Limits that cannot be counted are no limits: refuse rather than let codes through unchecked.
            log.exception("verification: the desk could not be asked")
            raise VerificationRefused(VerificationProblem.UNAVAILABLE,
                                      "sign-in is not available right now: please try again in a moment") from None
