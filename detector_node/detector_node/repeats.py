"""Repeated log lines summarised: the first of a kind is logged, the rest of its interval
counted and reported with the next line of that kind (one line per interval, with a count).

    warnings = RepeatedLog(log, interval_s=60.0)
    warnings.warning("outbox-full", "outbox full: dropped the oldest item")
    # ... 5000 more within the minute: nothing; the next after it:
    # "outbox full: dropped the oldest item (4999 more like this in the last 60 s)"
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class RepeatedLog:
    def __init__(self, logger: logging.Logger, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._since: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args) -> bool:
        """Log `message % args` unless a line of kind `key` went out less than interval_s
        ago (then it is counted); returns whether a line was written."""
        now = self.clock()
        with self._lock:
            since = self._since.get(key)
            if since is not None and now - since < self.interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            suppressed = self._suppressed.pop(key, 0)
            self._since[key] = now
        if suppressed and since is not None:
            message += f" ({suppressed} more like this in the last {now - since:.0f} s)"
        self.logger.log(level, message, *args)
        return True

    def warning(self, key: str, message: str, *args) -> bool:
        return self.log(logging.WARNING, key, message, *args)

    def error(self, key: str, message: str, *args) -> bool:
        return self.log(logging.ERROR, key, message, *args)

    def suppressed(self, key: str) -> int:
        with self._lock:
            return self._suppressed.get(key, 0)
