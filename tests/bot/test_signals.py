"""``Signal`` wakes the worker and the dispatchers from other threads, and never loses a notification."""

from __future__ import annotations

import asyncio
import threading
import time

from bot.signals import Signal

LONG = 60.0  # a wait this long only ends early because it was woken


def test_a_notification_from_another_thread_wakes_every_waiter() -> None:
    signal = Signal()

    async def scenario() -> list[int]:
        seen = signal.generation
        waiters = [asyncio.create_task(signal.wait(seen=seen, timeout=LONG)) for _ in range(3)]
        await asyncio.sleep(0.05)  # all three are waiting now
        threading.Thread(target=signal.notify).start()
        return await asyncio.gather(*waiters)

    started = time.monotonic()
    assert asyncio.run(scenario()) == [1, 1, 1]
    assert time.monotonic() - started < LONG / 2


def test_a_notification_before_the_wait_is_not_lost_and_no_notification_waits_out_the_timeout() -> None:
    signal = Signal()

    async def scenario() -> tuple[int, int]:
        seen = signal.generation
        signal.notify()  # while the loop was busy, before it waits
        early = await signal.wait(seen=seen, timeout=LONG)
        quiet = await signal.wait(seen=early, timeout=0.05)
        return early, quiet

    started = time.monotonic()
    assert asyncio.run(scenario()) == (1, 1)
    assert time.monotonic() - started < LONG / 2
