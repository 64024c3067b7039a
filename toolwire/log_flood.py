"""A logging filter that lets a line a client can trigger at will through once per interval.

Malformed requests, slow or vanished clients and refused connections each cost an attacker one
cheap connection; each used to cost the operator a warning, or two tracebacks (issue 8, item 13).
`OncePerInterval` keeps the first record of each kind (logger + message template) per interval
and drops the rest, then tells how many it dropped on the next one it lets through. It is only
attached to the loggers a client can drive (`CLIENT_LOGGERS`); the call path's own logs
(`toolwire.gateway`, adapters, stores) are never dropped.

What this is not: redaction (`toolwire.vault.redact`) or log configuration (`toolwire.logs`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

CLIENT_LOGGERS = ("uvicorn.error", "toolwire.http")
"""Loggers whose lines a client can cause at will: the only ones rate-limited."""

INTERVAL_S = 10.0


class OncePerInterval(logging.Filter):
    """Lets one record per (logger, message template) through every `interval` seconds."""

    def __init__(self, interval: float = INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._kinds: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(record.msg))
        now = self.clock()
        with self._lock:
            since, dropped = self._kinds.get(kind, (float("-inf"), 0))
            if now - since < self.interval:
                self._kinds[kind] = (since, dropped + 1)
                return False
            self._kinds[kind] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} ({dropped} more like this in the last {self.interval:g}s)"
        return True


def install(interval: float = INTERVAL_S) -> OncePerInterval:
    """Attach one `OncePerInterval` to each of `CLIENT_LOGGERS`; returns it."""
    limiter = OncePerInterval(interval)
    for name in CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, OncePerInterval)]:
            logger.removeFilter(old)
        logger.addFilter(limiter)
    return limiter
