"""Signal handlers that cannot deadlock.

A Python signal handler runs in the main thread between two bytecodes, possibly in the
middle of another handler: one that sets a `threading.Event` holds the event's lock while
it wakes the waiters, and a second signal arriving then (ros2 launch sends SIGINT, then
SIGTERM; a user presses Ctrl-C twice) ran a handler that waited for that lock forever.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any


def first_signal_only(action: Callable[[], Any]) -> Callable[[int, Any], None]:
    """A signal handler that runs `action` (e.g. an event's `set`) for the first signal
    only: a signal arriving while it runs, or later, does nothing."""
    seen = [False]

    def handler(_signum: int, _frame: Any) -> None:
        if seen[0]:
            return
        seen[0] = True
        action()

    return handler


def stop_on_signals(action: Callable[[], Any]) -> dict[int, Any]:
    """Install one `first_signal_only(action)` handler for both SIGINT and SIGTERM (one
    for both: a SIGTERM arriving while the SIGINT's action runs does nothing); returns the
    handlers it replaced, by signal."""
    handler = first_signal_only(action)
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def ignore_signals() -> None:
    """Ignore SIGINT and SIGTERM from here to the end of the process: at exit Python puts
    SIG_DFL back in place of a Python handler, and a late second SIGINT (ros2 launch sends
    one after the terminal's) would end the process by SIGINT (exit code -2) while it
    finalises (see run_node)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
