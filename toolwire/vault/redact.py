"""Redaction: every known secret value replaced by `[REDACTED]` wherever text leaves the gateway.

What it is: a `Redactor` (the set of values to hide, and `scrub`/`scrub_obj` over text and JSON-like
data), used by adapters on results and errors, and `install_log_redaction`, a logging hook
installed once per process that scrubs every log record's message, traceback and `extra=` fields.
Each value is hidden in every form `toolwire.vault.forms` knows (percent, form, JSON and HTML
escapes, base64). What it is not: a detector of unknown secrets; only values the vault (or an
adapter, for derived tokens) registers are hidden.

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

from toolwire.vault.forms import ODD_ENCODING, Forms, forms

MASK = "[REDACTED]"
MIN_LENGTH = 4


class Redactor:
    """A growing set of secret values; `scrub` hides each of them in every form
    `toolwire.vault.forms` knows (raw, percent/form/JSON/HTML-escaped, base64)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._forms: tuple[Forms, ...] = ()
        self._core_gate: re.Pattern[str] | None = None
        self._gate: re.Pattern[str] | None = None
        self._unanchored = False
        self._lock = threading.Lock()
        self.add(*values)

    def add(self, *values: str) -> None:
        fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH} - self._values
        if not fresh:
            return
        found = [forms(v) for v in fresh]
        with self._lock:
            self._values |= fresh
            self._forms = (*self._forms, *found)
            shortest = min((len(c) for f in self._forms for c in f.cores), default=0)
            # base64 runs are searched for only in text that has a run that long
            self._core_gate = re.compile(f"[A-Za-z0-9+/_-]{{{shortest},}}") if shortest else None
            # One precompiled pass over a text finds whether any secret's anchor or base64 run
            # is in it; most texts (a result's strings) have none and are done after it.
            needles = {f.anchor for f in self._forms if f.anchor is not None}
            needles.update(core for f in self._forms for core in f.cores)
            ordered = sorted(needles, key=len, reverse=True)
            self._gate = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            self._unanchored = any(f.anchor is None for f in self._forms)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    @property
    def empty(self) -> bool:
        return not self._forms

    def found_in(self, text: str) -> bool:
        """True when any secret, in any form, occurs in `text`."""
        return bool(self._spans(text))

    def scrub(self, text: str) -> str:
        """`text` with every occurrence of every secret, in any form, replaced by `MASK`."""
        if not self._forms or not text:
            return text
        spans = self._spans(text)
        if not spans:
            return text
        parts: list[str] = []
        done = 0
        for start, end in spans:
            parts.append(text[done:start])
            parts.append(MASK)
            done = end
        parts.append(text[done:])
        return "".join(parts)

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """Where secrets occur, as sorted, merged (start, end) pairs."""
        if not self._forms or not text:
            return []
        odd = ("%" in text or "\\" in text) and ODD_ENCODING.search(text) is not None
        if not odd and not self._unanchored and (self._gate is None or not self._gate.search(text)):
            return []  # no anchor, no base64 run, no odd escape: no form of any secret is here
        gate = self._core_gate
        cores = gate is not None and gate.search(text) is not None
        found: list[tuple[int, int]] = []
        for f in self._forms:  # substring tests are C-fast: search only where a secret can be
            if (
                odd
                or f.anchor is None
                or f.anchor in text
                or (cores and any(core in text for core in f.cores))
            ):
                found.extend(_occurrences(f, text, odd))
        return _merge(found)

    def scrub_obj(self, value: Any) -> Any:
        """`value` with every string (keys too) scrubbed; other scalars unchanged."""
        if not self._forms:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub_obj(k): self.scrub_obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_obj(v) for v in value]
        return value


def _occurrences(secret: Forms, text: str, odd: bool) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for core in secret.cores:
        at = text.find(core)
        while at >= 0:
            found.append((at, at + len(core)))
            at = text.find(core, at + 1)
    if odd or secret.anchor is None:
        found.extend(m.span() for m in secret.regex.finditer(text))
        return found
    at = text.find(secret.anchor)
    while at >= 0:  # search only around each place the anchor occurs
        start = max(0, at - secret.reach)
        end = at + len(secret.anchor) + secret.reach
        found.extend(m.span() for m in secret.regex.finditer(text, start, end))
        at = text.find(secret.anchor, at + 1)
    return found


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


_redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()
_installed = False
_install_lock = threading.Lock()


def install_log_redaction(redactor: Redactor) -> None:
    """Scrub `redactor`'s values from every log record created from now on, in this process.

    The hook wraps the log record factory once (so it applies whatever handler or formatter is
    configured later), and `Logger.makeRecord`, which adds `extra=` fields after the factory
    ran; each gateway in the process adds its redactor to the set it consults.
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
        make_record = logging.Logger.makeRecord

        def make_scrubbed_record(self: logging.Logger, *args: Any, **kwargs: Any) -> Any:
            record = make_record(self, *args, **kwargs)
            _scrub_extra(record)
            return record

        logging.Logger.makeRecord = make_scrubbed_record  # type: ignore[method-assign]
        _installed = True


def _scrub_all(value: Any) -> Any:
    for redactor in list(_redactors):
        value = redactor.scrub_obj(value)
    return value


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}
"""The attributes every record has; anything else came from `extra=` and is scrubbed too."""


def _scrub_record(record: logging.LogRecord) -> None:
    if all(r.empty for r in _redactors):
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
    if record.stack_info:
        record.stack_info = _scrub_all(record.stack_info)


def _scrub_extra(record: logging.LogRecord) -> None:
    if all(r.empty for r in _redactors):
        return
    for name in record.__dict__.keys() - _STANDARD:
        record.__dict__[name] = _scrub_all(_plain(record.__dict__[name]))


def _plain(value: Any) -> Any:
    """JSON-like data as it is; anything else as its text, which is what a renderer would print."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)
