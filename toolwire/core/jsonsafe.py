"""Making a tool's definition encodable as JSON by every encoder the doors use.

What it is: `json_safe(value)`, applied when the catalog is built to every part of an operation's
definition a listing sends (input and output schemas): integers beyond 64 bits (orjson's limit,
e.g. `minimum: -9223372036854776000` in a real spec) become floats, NaN and infinities are
dropped, lone surrogates become U+FFFD, keys become strings, tuples become lists, and any other
value (a date YAML parsed, bytes) becomes its text. So no single tool's definition can make a
listing fail for every tool (issue 9 item 13). What it is not: validation of schemas
(`catalog.check_input_schema`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1
_DROP = object()


def json_safe(value: Any) -> Any:
    """A copy of `value` that any JSON encoder accepts (see the module docstring)."""
    out = _safe(value)
    return None if out is _DROP else out


def safe_text(text: str) -> str:
    """`text` with each lone surrogate (which UTF-8 cannot encode; JSON's `\\ud83d` alone
    decodes to one) replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def _safe(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, int):
        return value if INT64_MIN <= value <= UINT64_MAX else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _DROP
    if isinstance(value, Mapping):
        pairs = ((safe_text(str(k)), _safe(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v is not _DROP}
    if isinstance(value, list | tuple):
        return [v for v in (_safe(item) for item in value) if v is not _DROP]
    return str(value)
