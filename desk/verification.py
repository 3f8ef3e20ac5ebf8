"""One-time codes that prove a chat identity (web chat, Telegram) owns an email address.

A code is issued for one identity (channel, external id) and one address, kept as a salted scrypt,
checked in constant time, tried at most ``max_attempts`` times and then, right or wrong, deleted.
When it is right the identity is linked to the requester of that address (``people.resolve_requester``
with a verified email), so the person's tickets from every channel are theirs there too.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from desk.models import VerificationCode
from desk.people import normalise_email, resolve_requester

CODE_DIGITS = 6
SALT_BYTES = 16
# scrypt at 16 MiB and about 50 ms a code: a copy of the table costs hours of CPU per code instead of a
# second, while a person waits 50 ms. Codes live minutes, so that is more than their lifetime.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


class Outcome(enum.Enum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    NO_CODE = "no_code"


@dataclass(frozen=True)
class Check:
    outcome: Outcome
    email: str | None = None  # the address verified (VERIFIED) or being verified (WRONG, EXPIRED)
    attempts_left: int = 0  # WRONG: tries left on this code (0: it is gone)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def _digest(code: str, salt: bytes) -> bytes:
    return hashlib.scrypt(code.encode("ascii"), salt=salt, **_SCRYPT)


def issue_code(*, session: Session, channel: str, external_id: str, email: str, code: str, now: dt.datetime,
               ttl: dt.timedelta) -> VerificationCode:
    """Keep ``code`` for the identity, replacing any code it had; expired codes of anyone are pruned."""
    address = normalise_email(email)
    if address is None:
        raise ValueError("a verification code needs an email address")
    session.execute(delete(VerificationCode).where(VerificationCode.expires_at <= now))
    session.execute(delete(VerificationCode).where(VerificationCode.channel == channel,
                                                   VerificationCode.external_id == external_id))
    salt = secrets.token_bytes(SALT_BYTES)
    row = VerificationCode(channel=channel, external_id=external_id, email=address, salt=salt,
                           digest=_digest(code, salt), attempts=0, created_at=now, expires_at=now + ttl)
    session.add(row)
    session.flush()
    return row


def pending_email(*, session: Session, channel: str, external_id: str, now: dt.datetime) -> str | None:
    """The address the identity's live code was mailed to, if it has one."""
    row = _pending(session, channel, external_id, lock=False)
    return row.email if row is not None and now < row.expires_at else None


def check_code(*, session: Session, channel: str, external_id: str, code: str, now: dt.datetime,
               max_attempts: int, display_name: str = "") -> Check:
    """Try ``code`` against the identity's pending code (its row locked until the transaction ends, so two
    tries at once are counted as two). Right: the code is spent and the identity linked to the address."""
    row = _pending(session, channel, external_id, lock=True)
    if row is None:
        return Check(Outcome.NO_CODE)
    email = row.email
    if now >= row.expires_at:
        session.delete(row)
        return Check(Outcome.EXPIRED, email)
    if hmac.compare_digest(row.digest, _digest(code, row.salt)):
        session.delete(row)
        resolve_requester(session=session, channel=channel, external_id=external_id, display_name=display_name,
                          email=email, email_verified=True)
        return Check(Outcome.VERIFIED, email)
    row.attempts += 1
    left = max(0, max_attempts - row.attempts)
    if left == 0:
        session.delete(row)
    session.flush()
    return Check(Outcome.WRONG, email, attempts_left=left)


def _pending(session: Session, channel: str, external_id: str, *, lock: bool) -> VerificationCode | None:
    query = select(VerificationCode).where(VerificationCode.channel == channel,
                                           VerificationCode.external_id == external_id)
    return session.scalar(query.with_for_update() if lock else query)
