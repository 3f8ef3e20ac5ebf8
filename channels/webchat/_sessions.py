"""Web chat session tokens, and the in-process wake-ups of open event streams.

The sessions themselves (who a token speaks for, its expiry, the replies waiting for it) are kept by the
injected ``ChatSessions`` (deskbot: the desk), so a restart keeps them and every process serves them. What
stays in memory is only how this process wakes its own streams when it queues a reply: a stream whose reply
was queued by another process finds it at its next poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 256 random bits, 43 characters


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest_token(token: str) -> str:
    """Sessions are looked up by the SHA-256 of their token, never by the token itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_address() -> str:
    return "wc-" + secrets.token_hex(16)


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


class Streams:
    """The event streams open in this process, by conversation address. One lock: the HTTP handlers run on the server's
    event loop, while ``send()`` may be awaited on another loop or thread (the dispatcher's)."""

    def __init__(self, *, per_session: int) -> None:
        self._lock = threading.Lock()
        self._per_session = per_session
        self._by_session: dict[str, set[Waiter]] = {}

    def open(self, address: str, waiter: Waiter) -> bool:
        """Register a stream; False when the session has its most streams open here already."""
        with self._lock:
            waiters = self._by_session.setdefault(address, set())
            if len(waiters) >= self._per_session:
                return False
            waiters.add(waiter)
            return True

    def close(self, address: str, waiter: Waiter) -> None:
        with self._lock:
            waiters = self._by_session.get(address, set())
            waiters.discard(waiter)
            if not waiters:
                self._by_session.pop(address, None)

    def full(self, address: str) -> bool:
        with self._lock:
            return len(self._by_session.get(address, ())) >= self._per_session

    def count(self) -> int:
        with self._lock:
            return sum(len(w) for w in self._by_session.values())

    def wake(self, address: str | None = None) -> None:
        """Wake the streams of one session (None: all of them)."""
        with self._lock:
            if address is None:
                waiters = [w for ws in self._by_session.values() for w in ws]
            else:
                waiters = list(self._by_session.get(address, ()))
        for waiter in waiters:
            waiter.wake()
