"""Test helpers: a listener that records what a BrainSession reports."""

from __future__ import annotations

import threading

from support import wait_for as wait_until  # noqa: F401 (ab_bridge's tests import it here)

from ab_bridge.session import CycleResult

#: The device API key of the `device` fixture (conftest.py).
DEVICE_KEY = "plx_session_test"


class Recorder:
    def __init__(self) -> None:
        self.cycles: list[CycleResult] = []
        self.holds: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def on_cycle(self, result: CycleResult) -> None:
        with self._lock:
            self.cycles.append(result)

    def on_hold(self, reason: str) -> None:
        with self._lock:
            self.holds.append(reason)

    def on_link(self, state: str, detail: str) -> None:
        with self._lock:
            self.links.append((state, detail))

    def on_error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def link_states(self) -> list[str]:
        with self._lock:
            return [state for state, _ in self.links]
