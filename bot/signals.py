"""``Signal``: "something new to do", from any thread to the coroutines waiting on an event loop.

The worker waits for accepted messages and the dispatchers for committed replies; a poll interval stays as the
fallback for what another process did (a second ``deskbot worker``, an agent's reply through the API).
"""

from __future__ import annotations

import asyncio
import threading


class Signal:
    """A counter of notifications; ``wait(seen=...)`` returns at once when it moved past ``seen``, so a
    notification between reading ``generation`` and waiting is never lost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def generation(self) -> int:
        return self._generation

    def notify(self) -> None:
        """Safe from any thread (the worker's and the accepting threads are not the loop's)."""
        with self._lock:
            self._generation += 1
            loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_all)

    async def wait(self, *, seen: int, timeout: float) -> int:
        """Until a notification after ``seen`` or ``timeout`` seconds; returns the generation now."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._loop = loop
            if self._generation != seen:
                return self._generation
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)
        return self._generation

    def _wake_all(self) -> None:
        for waiter in list(self._waiters):
            if not waiter.done():
                waiter.set_result(None)
