"""In-memory web chat sessions: tokens, email verification state, reply buffers, stream waiters.

Everything lives in this process. A deployment with several HTTP processes needs sticky
sessions (a browser must always reach the same process), or sessions, codes and buffered
replies are not found; a restart forgets them all (replies then fail with ``SendError``
and the dispatcher retries and dead-letters them).

One ``threading.Lock`` guards all state: the HTTP handlers run on the server's event loop,
while ``send()`` may be awaited on another loop or thread (the dispatcher's).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 256 random bits, 43 characters
MAX_OFFERED_ACTIONS = 64  # button values remembered per session (to map a click back to its label)


def digest_token(token: str) -> str:
    """Sessions are looked up by the SHA-256 of their token, never by the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Waiter:
    """One open event stream, woken from any thread when a reply arrives or the channel stops."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def wake(self) -> None:
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is self.loop:
            self.event.set()
            return
        try:
            self.loop.call_soon_threadsafe(self.event.set)
        except RuntimeError:  # that loop is closed: its stream is gone
            pass


@dataclass(eq=False)
class Session:
    token_digest: str
    key_id: str  # stable, not secret: the middle of every idempotency key of this session
    address: str  # stable, not secret: the ConversationRef.address of this session's conversation
    created_at: float  # on the store's clock: the session ends ``lifetime`` after it, however active
    last_seen: float
    buffer_size: int
    email: str | None = None  # set once the email is verified
    pending_email: str | None = None  # the address a code was last sent to (the code is in the desk)
    code_times: collections.deque[float] = field(default_factory=collections.deque)
    replies: collections.deque[tuple[int, str]] = field(init=False)
    next_event_id: int = 1
    actions: dict[str, str] = field(default_factory=dict)  # offered button value -> label
    waiters: set[Waiter] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.replies = collections.deque(maxlen=self.buffer_size)

    @property
    def verified(self) -> bool:
        return self.email is not None

    def offer(self, value: str, label: str) -> None:
        self.actions.pop(value, None)
        self.actions[value] = label
        while len(self.actions) > MAX_OFFERED_ACTIONS:
            del self.actions[next(iter(self.actions))]


class StoreFull(Exception):
    pass


class SessionStore:
    def __init__(
        self,
        *,
        buffer_size: int,
        idle_timeout: float,
        unverified_idle_timeout: float,
        lifetime: float,
        max_sessions: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self._buffer_size = buffer_size
        self._idle_timeout = idle_timeout
        self._unverified_idle_timeout = unverified_idle_timeout
        self.lifetime = lifetime
        self._max_sessions = max_sessions
        self._by_digest: dict[str, Session] = {}
        self._by_address: dict[str, Session] = {}

    # Callers hold self.lock for everything below.

    def create(self) -> tuple[str, Session]:
        now = self.clock()
        self._prune(now)
        if len(self._by_digest) >= self._max_sessions:
            self._evict_oldest_unverified()
        if len(self._by_digest) >= self._max_sessions:
            raise StoreFull
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = Session(
            token_digest=digest_token(token),
            key_id=digest_token(token)[:32],
            address="wc-" + secrets.token_hex(16),
            created_at=now,
            last_seen=now,
            buffer_size=self._buffer_size,
        )
        self._by_digest[session.token_digest] = session
        self._by_address[session.address] = session
        return token, session

    def get(self, token: str) -> Session | None:
        session = self._live(self._by_digest.get(digest_token(token)))
        if session is not None:
            session.last_seen = self.clock()
        return session

    def ended(self, session: Session) -> bool:
        """Past its absolute lifetime: its token is refused and its replies are not delivered."""
        return self.clock() - session.created_at >= self.lifetime

    def _live(self, session: Session | None) -> Session | None:
        return None if session is None or self.ended(session) else session

    def rotate(self, session: Session) -> str:
        """A new token for the same session (on verification), so a token seen before it is worthless."""
        del self._by_digest[session.token_digest]
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session.token_digest = digest_token(token)
        self._by_digest[session.token_digest] = session
        return token

    def by_address(self, address: str) -> Session | None:
        return self._live(self._by_address.get(address))

    def all(self) -> list[Session]:
        return list(self._by_digest.values())

    def _remove(self, session: Session) -> None:
        self._by_digest.pop(session.token_digest, None)
        self._by_address.pop(session.address, None)

    def _prune(self, now: float) -> None:
        for session in list(self._by_digest.values()):
            limit = self._idle_timeout if session.verified else self._unverified_idle_timeout
            if (not session.waiters and now - session.last_seen > limit) or self.ended(session):
                self._remove(session)

    def _evict_oldest_unverified(self) -> None:
        candidates = [s for s in self._by_digest.values() if not s.verified and not s.waiters]
        if candidates:
            self._remove(min(candidates, key=lambda s: s.last_seen))
