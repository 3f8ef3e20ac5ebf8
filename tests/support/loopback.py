"""Small helpers of the tests that run servers on loopback."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

# Outgoing connections (to PostgreSQL, to the fake servers) take their local ports from the kernel's ephemeral
# range. A port a test picks now and a server binds later must lie below that range, or such a connection may
# take it in between ("address already in use").
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PICKED = 10_000


def _first_ephemeral_port() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and no outgoing connection will take, for a server
    another process starts later (a server of this process binds port 0 and reads its port: ``bound_port``)."""
    ports = list(range(_LOWEST_PICKED, _first_ephemeral_port()))
    random.shuffle(ports)
    for port in ports[:200]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port between {_LOWEST_PICKED} and the ephemeral range")


def bound_port(server: object) -> int:
    """The port a started ``uvicorn.Server`` configured with port 0 listens on."""
    return server.servers[0].sockets[0].getsockname()[1]  # type: ignore[attr-defined]


def wait_for(check: Callable[[], object], what: str, timeout: float = 40.0) -> object:
    """``check()``'s first truthy answer, polled every 50 ms; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
