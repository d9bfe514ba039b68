"""Helpers every package's tests share (the root conftest puts this folder on the path):
a free loopback port, and waiting on a condition rather than on time."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0,
             period_s: float = 0.02) -> bool:
    """Whether `predicate()` became true within `timeout_s` (looked at every
    `period_s`); its last value when the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period_s)
    return bool(predicate())
