"""Redaction: every known secret value replaced by `[REDACTED]` wherever text leaves the gateway.

What it is: a `Redactor` (the set of values to hide, and `scrub`/`scrub_obj` over text and JSON-like
data), used by adapters on results and errors, and `install_log_redaction`, a logging hook
installed once per process that scrubs every log record's message and traceback. What it is not:
a detector of unknown secrets; only values the vault (or an adapter, for derived tokens) registers
are hidden.

Values shorter than `MIN_LENGTH` are not registered: hiding "abc" everywhere would corrupt output
while protecting nothing worth protecting.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
import weakref
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"
MIN_LENGTH = 4


class Redactor:
    """A growing set of secret values and a compiled pattern matching any of them."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*values)

    def add(self, *values: str) -> None:
        fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH} - self._values
        if not fresh:
            return
        with self._lock:
            self._values |= fresh
            ordered = sorted(self._values, key=len, reverse=True)  # longest first
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def scrub_obj(self, value: Any) -> Any:
        """`value` with every string (keys too) scrubbed; other scalars unchanged."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub_obj(k): self.scrub_obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_obj(v) for v in value]
        return value


_redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()
_installed = False
_install_lock = threading.Lock()


def install_log_redaction(redactor: Redactor) -> None:
    """Scrub `redactor`'s values from every log record created from now on, in this process.

    The hook wraps the log record factory once (so it applies whatever handler or formatter is
    configured later); each gateway in the process adds its redactor to the set it consults.
    """
    global _installed
    _redactors.add(redactor)
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _scrub_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _scrub_all(text: str) -> str:
    for redactor in list(_redactors):
        text = redactor.scrub(text)
    return text


def _scrub_record(record: logging.LogRecord) -> None:
    if not _redactors:
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep the template only
        message = str(record.msg)
    if record.exc_info and record.exc_info[1] is not None:
        # Tracebacks carry exception text (an httpx URL with a key in its query, say): render
        # it now, scrub it, and keep it as text so no formatter renders the original.
        message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        record.exc_info = None
        record.exc_text = None
    record.msg = _scrub_all(message)
    record.args = None
