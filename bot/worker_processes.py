"""The worker processes ``deskbot serve`` starts (``DESKBOT_WORKERS``), and both ends of what they say to it.

The NLP and the desk work of each message run in these processes, so their Python never holds the event loop
that accepts mail, answers HTTP and acks Slack within its 3 seconds. Each child is a ``deskbot worker
--supervised``: the same claims under a lease, the same exactly-once handling as a worker started by hand.

The pipes carry wake-ups, never messages (those stay in the inbox and the outbox):
- serve to worker, on its stdin: one byte or more when messages were accepted (claim now, not at the next poll);
  end of file when serve is gone, and the worker finishes what it holds and exits;
- worker to serve, lines on its stdout: ``ready`` once its model and KB index are loaded, then ``replied
  <channel>`` when a batch committed replies on a channel (serve's dispatcher for it sends them now).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from bot.runtime import Loops
    from bot.worker import Pipeline

log = logging.getLogger("deskbot.workers")

READY = "ready"
REPLIED = "replied"
WORKER_COMMAND = (sys.executable, "-m", "bot.cli", "worker", "--supervised")
STOP_SECONDS = 60.0  # a worker finishing the batch in hand; then it is killed (its claims return after their lease)


class WorkerStartError(Exception):
    """A worker process ended, or said nothing, before it was ready."""


class _Child:
    """One slot: its current process, restarted when it dies while serve runs."""

    def __init__(self, number: int):
        self.number = number
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()


class WorkerProcesses:
    """``count`` worker processes beside this serve, started with ``start()`` (which returns once each is ready)
    and restarted when one dies; ``stop()`` lets each finish the batch it holds."""

    def __init__(self, *, count: int, pipeline: Pipeline, command: Sequence[str] = WORKER_COMMAND,
                 ready_seconds: float = 600.0, restart_delay: float = 1.0):
        self.count = count
        self.pipeline = pipeline
        self.command = tuple(command)
        self.ready_seconds = ready_seconds  # loading the model on a busy machine
        self.restart_delay = restart_delay
        self._children = [_Child(n) for n in range(1, count + 1)]
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    @property
    def pids(self) -> list[int]:
        return [c.process.pid for c in self._children if c.process is not None and c.process.returncode is None]

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._supervise(c), name=f"worker process {c.number}")
                       for c in self._children]
        all_ready = asyncio.ensure_future(asyncio.gather(*(c.ready.wait() for c in self._children)))
        await asyncio.wait([all_ready, *self._tasks], timeout=self.ready_seconds,
                           return_when=asyncio.FIRST_COMPLETED)
        if not all_ready.done():
            all_ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await all_ready
            ended = [t for t in self._tasks if t.done()]
            await self.stop()
            if ended and ended[0].exception() is not None:
                raise ended[0].exception()  # type: ignore[misc]
            raise WorkerStartError(f"a worker process was not ready after {self.ready_seconds:.0f} s")
        self._tasks.append(asyncio.create_task(self._forward_wake_ups(), name="worker wake-ups"))

    async def stop(self) -> None:
        """Each worker finishes the batch in hand (SIGTERM), then ends; one that does not within ``STOP_SECONDS``
        is killed."""
        self._stopping.set()
        for child in self._children:
            if child.process is not None and child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        self.pipeline.accepted.notify()  # the wake-up forwarder sees the stop
        for child in self._children:
            if child.process is None:
                continue
            try:
                await asyncio.wait_for(child.process.wait(), STOP_SECONDS)
            except TimeoutError:
                log.error("worker process %d (pid %d) did not stop within %.0f s: killed", child.number,
                          child.process.pid, STOP_SECONDS)
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                await child.process.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _supervise(self, child: _Child) -> None:
        delay = self.restart_delay
        while not self._stopping.is_set():
            started = asyncio.get_running_loop().time()
            # stderr is serve's own: the worker's log lines appear in serve's log. A session of its own: a Ctrl-C
            # in serve's terminal reaches serve alone, which stops its workers itself (else a worker that stopped
            # first would look dead and be started again).
            child.process = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True)
            await self._listen(child)
            code = await child.process.wait()
            assert child.process.stdin is not None
            child.process.stdin.close()  # with its stdout at end of file, this lets asyncio close the transport
            if self._stopping.is_set():
                return
            if not child.ready.is_set():
                raise WorkerStartError(f"worker process {child.number} ended with exit code {code} before it was "
                                       f"ready (its error is in the log above)")
            # One that dies at once again and again (a broken database) is started less and less often.
            delay = self.restart_delay if asyncio.get_running_loop().time() - started > 60 else min(delay * 2, 30)
            log.error("worker process %d (pid %d) ended with exit code %d; starting it again in %.0f s",
                      child.number, child.process.pid, code, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _listen(self, child: _Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        async for raw in child.process.stdout:
            word, _, channel = raw.decode(errors="replace").strip().partition(" ")
            if word == REPLIED and channel:
                self.pipeline.replied_on(channel).notify()
            elif word == READY:
                log.info("worker process %d (pid %d) ready", child.number, child.process.pid)
                child.ready.set()
                self.pipeline.accepted.notify()  # a restarted worker claims what waited for it
            else:
                log.warning("worker process %d said %r", child.number, raw[:200])

    async def _forward_wake_ups(self) -> None:
        accepted = self.pipeline.accepted
        seen = accepted.generation
        while not self._stopping.is_set():
            seen = await accepted.wait(seen=seen, timeout=3600)
            for child in self._children:
                stdin = child.process.stdin if child.process is not None else None
                if stdin is None or stdin.is_closing() or child.process.returncode is not None:
                    continue
                try:
                    stdin.write(b".")
                    await stdin.drain()
                except (BrokenPipeError, ConnectionResetError):  # it died; its supervisor restarts it
                    pass


async def run_supervised(loops: Loops) -> None:
    """``deskbot worker --supervised``: the loops of a worker process until SIGTERM or its serve is gone."""
    pipeline = loops.pipeline
    # Only this end of the pipe writes to the real stdout: stray prints (a library's) go to stderr, the log.
    to_serve: TextIO = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    said = threading.Lock()  # lines come from the worker's threads

    def say(line: str) -> None:
        with said, contextlib.suppress(BrokenPipeError, ValueError):
            to_serve.write(line + "\n")

    pipeline.reply_listeners.append(lambda channel: say(f"{REPLIED} {channel}"))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def read_wake_ups() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pipeline.accepted.notify()
        loop.call_soon_threadsafe(stop.set)  # serve is gone: finish what is in hand and end

    threading.Thread(target=read_wake_ups, name="wake-ups from serve", daemon=True).start()
    await loops.start()
    gc.freeze()  # what startup built (the model, the libraries) is left out of every later collection, as in serve
    say(READY)
    await stop.wait()
    await loops.stop()
